"""The sandbox's wire: HTTP server, WSGI overlay, protocols, throttling, moto's internals it touches."""
