"""The world folder contract: every table readable and valid, deterministic, clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from netcx.errors import InvalidInput, NotFound
from netcx.simulate.generate import generate_world
from netcx.simulate.params import WorldParams
from netcx.simulate.world import SCHEMAS, WorldFolder


def test_every_table_reads_with_its_schema(tiny_world: WorldFolder) -> None:
    for name, schema in SCHEMAS.items():
        table = tiny_world.table(name)
        assert table.schema.equals(schema), name
    assert tiny_world.table("web/hits").num_rows > 1000
    assert tiny_world.table("network/radius").num_rows > 1000
    assert tiny_world.has_truth()
    assert tiny_world.meta["households"] == 400
    assert {"true_nps_uplift", "true_churn_relative_change"} <= tiny_world.meta.keys()
    assert tiny_world.radius_detail_files()
    assert set(tiny_world.cgnat_logs()) == {"srx-cgn1", "mx-cgn2", "a10-cgn3"}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    params = WorldParams(households=60, days=3, seed=11)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_world(params, a)
    generate_world(params, b)
    generate_world(WorldParams(households=60, days=3, seed=12), c)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) > 20
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert (a / "web/hits.parquet").read_bytes() != (c / "web/hits.parquet").read_bytes()


def test_missing_folder_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no such world folder"):
        WorldFolder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFound, match=r"meta\.json"):
        WorldFolder(tmp_path / "empty")


def test_missing_and_corrupt_files_name_the_file(tiny_world: WorldFolder, tmp_path: Path) -> None:
    copy = tmp_path / "w"
    shutil.copytree(tiny_world.path, copy)
    world = WorldFolder(copy)
    (copy / "crm/lines.parquet").unlink()
    with pytest.raises(NotFound, match=r"crm/lines\.parquet"):
        world.table("crm/lines")
    (copy / "web/hits.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InvalidInput, match=r"web/hits\.parquet"):
        world.table("web/hits")
    (copy / "network/address_plan.json").write_text("{broken")
    with pytest.raises(InvalidInput, match=r"address_plan\.json"):
        world.address_plan()
    with pytest.raises(NotFound, match="unknown world table"):
        world.table("crm/nothing")


def test_a_table_with_a_missing_column_is_rejected(tiny_world: WorldFolder, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    copy = tmp_path / "w"
    shutil.copytree(tiny_world.path, copy)
    lines = pq.read_table(copy / "crm/lines.parquet").drop_columns(["msisdn"])
    pq.write_table(lines, copy / "crm/lines.parquet")
    with pytest.raises(InvalidInput, match=r"missing column.*msisdn"):
        WorldFolder(copy).table("crm/lines")
