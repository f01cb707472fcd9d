"""The two engines that run the batch SQL: DuckDB (embedded) and Spark SQL (pyspark)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Protocol

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from netcx.adapters.batch.packed import PackedBlocks
from netcx.adapters.batch.sql import DUCKDB, SPARK, Dialect


class Engine(Protocol):
    dialect: Dialect

    def load_parquet(self, name: str, path: Path) -> None: ...

    def load_arrow(self, name: str, table: pa.Table) -> None: ...

    def create(self, name: str, select: str) -> None:
        """Materialise `select` as table `name` (later stages read it, some more than once)."""
        ...

    def fetch(self, select: str) -> pa.Table:
        """Run `select` and bring its result to this process."""
        ...

    def close(self) -> None: ...


class DuckDBEngine:
    """DuckDB; `packed_blocks=False` finds port-block bindings with the ASOF JOIN instead of
    the packed index (the same answers: kept for comparison, `bench/resolve.py`)."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection | None = None, packed_blocks: bool = True
    ) -> None:
        self.dialect = DUCKDB if packed_blocks else Dialect("duckdb")
        self._con = con if con is not None else duckdb.connect()
        self.blocks: PackedBlocks | None = None  # port-block index (resolve.load_bindings)

    def load_parquet(self, name: str, path: Path) -> None:
        glob = str(path / "*.parquet") if path.is_dir() else str(path)
        self._con.read_parquet(glob).create_view(name)

    def load_arrow(self, name: str, table: pa.Table) -> None:
        self._con.register(name, table)

    def create(self, name: str, select: str) -> None:
        self._con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {select}")

    def fetch(self, select: str) -> pa.Table:
        return self._con.sql(select).to_arrow_table()

    def close(self) -> None:
        self._con.close()


class SparkEngine:
    """Spark SQL (pyspark ≥ 4); `master` local[2] by default, UI off, 2 shuffle partitions."""

    def __init__(self, master: str = "local[2]", shuffle_partitions: int = 2) -> None:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        from pyspark.sql import SparkSession

        self.dialect = SPARK
        self._tmp = Path(tempfile.mkdtemp(prefix="netcx-spark-"))
        self._spark = (
            SparkSession.builder.master(master)
            .appName("netcx-batch-resolve")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.local.dir", str(self._tmp / "local"))
            .getOrCreate()
        )
        self._spark.sparkContext.setLogLevel("ERROR")

    def load_parquet(self, name: str, path: Path) -> None:
        self._spark.read.parquet(str(path)).createOrReplaceTempView(name)

    def load_arrow(self, name: str, table: pa.Table) -> None:
        # through Parquet: keeps nullable integer columns integers (pandas would not)
        path = self._tmp / f"{name}.parquet"
        pq.write_table(table, path)
        self.load_parquet(name, path)

    def create(self, name: str, select: str) -> None:
        self._spark.sql(select).cache().createOrReplaceTempView(name)

    def fetch(self, select: str) -> pa.Table:
        # written by the executors and read back: no row-by-row transfer through the driver
        folder = Path(tempfile.mkdtemp(prefix="fetch-", dir=self._tmp))
        self._spark.sql(select).write.mode("overwrite").parquet(str(folder))
        return pq.read_table(folder)

    def close(self) -> None:
        try:
            self._spark.stop()
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)
