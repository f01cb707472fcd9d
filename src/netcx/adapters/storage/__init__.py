"""Storage adapters, one module per backend."""
