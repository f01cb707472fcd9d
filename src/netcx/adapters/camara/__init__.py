"""Adapters for the CAMARA Number Verification ports (audit log, fixture line source)."""
