"""Thin entrypoints: CLI, HTTP apps, RADIUS listener. They translate errors, nothing more."""
