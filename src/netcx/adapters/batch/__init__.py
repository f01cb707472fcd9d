"""Batch resolution of months of hits against normalised binding tables, on DuckDB or Spark."""
