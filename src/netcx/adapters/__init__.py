"""Adapters: implementations of the ports (storage, RADIUS, CGNAT parsers, triggers, engines)."""
