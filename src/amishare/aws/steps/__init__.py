"""The AWS side of the engine: a handler per action kind, the poller, the revoker, notifications."""
