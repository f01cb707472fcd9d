"""Opening an embedded DuckDB file for the storage adapters."""

from __future__ import annotations

from pathlib import Path

import duckdb

from netcx.errors import Unavailable


def connect(path: Path, schema: str) -> duckdb.DuckDBPyConnection:
    """Open (creating) the DuckDB file; a lock held by another process is Unavailable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path))
    except duckdb.IOException as err:
        raise Unavailable(
            f"{path}: cannot open the embedded store (is another netcx process using it?): {err}"
        ) from err
    con.execute(schema)
    return con
