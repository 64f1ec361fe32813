"""EC2 images, one module per concern: describe (listing and filters), copy, permissions (attributes and launch
permissions), lifecycle (register, disable, deprecate, protect, deregister).

Each rule cites docs/aws-facts.md; the details follow the EC2 API Reference of each action.
"""
