"""Use cases wiring domain logic to ports: ingest, resolve, collect, decide, report."""
