"""HTTP entrypoints (ASGI, served by granian)."""
