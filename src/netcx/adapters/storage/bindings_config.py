"""Network config in a data dir: address plan, deterministic NAT versions, CRM lines."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from netcx.domain.network.config import NetworkConfig
from netcx.domain.network.deterministic import DeterministicNat
from netcx.domain.network.directory import LineDirectory, LineInfo
from netcx.domain.network.plan import AddressPlan, Operator
from netcx.errors import InvalidInput, NotFound
from netcx.tables import LINES, require_columns

PLAN_FILE = "address_plan.json"
NAT_FILE = "deterministic_nat.json"
LINES_FILE = "lines.parquet"


def lines_from_table(table: pa.Table) -> list[LineInfo]:
    t = require_columns(table, LINES, "crm/lines")
    cols = {
        n: t.column(n).to_pylist()
        for n in (
            "line_id",
            "kind",
            "household_id",
            "account_id",
            "subscriber_id",
            "msisdn",
            "imsi",
            "user_name",
        )
    }
    return [
        LineInfo(
            line_id=cols["line_id"][i],
            kind=cols["kind"][i],
            household_id=cols["household_id"][i],
            account_id=cols["account_id"][i],
            subscriber_id=cols["subscriber_id"][i],
            msisdn=cols["msisdn"][i],
            imsi=cols["imsi"][i],
            user_name=cols["user_name"][i],
        )
        for i in range(t.num_rows)
    ]


def load_network_config(network_dir: Path, lines: pa.Table | None = None) -> NetworkConfig:
    """Read plan, NAT rules and lines from `network_dir`; missing files mean 'none yet'."""
    plan_path = network_dir / PLAN_FILE
    plan = (
        AddressPlan.from_json(plan_path.read_bytes())
        if plan_path.is_file()
        else AddressPlan(Operator(), [], [])
    )
    nat_path = network_dir / NAT_FILE
    nat = (
        DeterministicNat.from_json(nat_path.read_bytes())
        if nat_path.is_file()
        else DeterministicNat([])
    )
    if lines is None and (network_dir / LINES_FILE).is_file():
        lines = pq.read_table(network_dir / LINES_FILE)
    directory = LineDirectory(lines_from_table(lines) if lines is not None else [])
    return NetworkConfig(plan, nat, directory)


def import_world_config(world: Path, network_dir: Path) -> None:
    """Copy a world folder's address plan, NAT config and CRM lines into a data dir."""
    src_plan = world / "network" / PLAN_FILE
    if not src_plan.is_file():
        raise NotFound(f"{src_plan}: no address plan in this world folder")
    network_dir.mkdir(parents=True, exist_ok=True)
    AddressPlan.from_json(src_plan.read_bytes())  # validate before accepting
    shutil.copyfile(src_plan, network_dir / PLAN_FILE)
    src_nat = world / "network" / NAT_FILE
    if src_nat.is_file():
        DeterministicNat.from_json(src_nat.read_bytes())
        shutil.copyfile(src_nat, network_dir / NAT_FILE)
    src_lines = world / "crm" / LINES_FILE
    if not src_lines.is_file():
        raise InvalidInput(f"{src_lines}: missing", field="crm/lines")
    lines_from_table(pq.read_table(src_lines))
    shutil.copyfile(src_lines, network_dir / LINES_FILE)
