"""Read-only AWS calls: observations for the planners and checks."""
