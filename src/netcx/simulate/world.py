"""`WorldFolder`: the `World` port over a world folder written by `netcx simulate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from netcx import tables
from netcx.errors import InvalidInput, NotFound
from netcx.simulate import loop

# name → schema of every table a world folder holds (name = path below the folder, no suffix).
SCHEMAS: dict[str, pa.Schema] = {
    "crm/accounts": tables.ACCOUNTS,
    "crm/households": tables.HOUSEHOLDS,
    "crm/subscribers": tables.SUBSCRIBERS,
    "crm/lines": tables.LINES,
    "network/radius": tables.RADIUS,
    "web/hits": tables.HITS,
    "outcomes/churn": tables.CHURN,
    "outcomes/upgrades": tables.UPGRADES,
    "outcomes/nps": tables.NPS,
    "outcomes/care_contacts": tables.CARE_CONTACTS,
    "outcomes/outages": tables.OUTAGES,
    "truth/hits": tables.HITS_TRUTH,
    "truth/journeys": tables.JOURNEYS,
    "truth/sessions": pa.schema(
        [("session_id", pa.string()), ("journey_id", pa.string()), ("true_intent", pa.string())]
    ),
    "truth/loop_churn": loop.LOOP_CHURN,
    "truth/loop_nps": loop.LOOP_NPS,
    "truth/loop_care": loop.LOOP_CARE,
    "truth/upgrades": tables.UPGRADES,
}


class WorldFolder:
    """A world folder on disk; every table is validated against its schema when read."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise NotFound(f"{self.path}: no such world folder")
        self.meta = self._json("meta.json")

    def _file(self, relative: str) -> Path:
        file = self.path / relative
        if not file.is_file():
            raise NotFound(f"{file}: missing from the world folder")
        return file

    def _json(self, relative: str) -> Any:
        file = self._file(relative)
        try:
            return json.loads(file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InvalidInput(f"{file}: not valid JSON: {err}") from err

    def table(self, name: str) -> pa.Table:
        schema = SCHEMAS.get(name)
        if schema is None:
            raise NotFound(f"unknown world table {name!r}; known: {', '.join(sorted(SCHEMAS))}")
        file = self._file(f"{name}.parquet")
        try:
            data = pq.read_table(file)
        except (pa.ArrowInvalid, OSError) as err:
            raise InvalidInput(f"{file}: not a readable Parquet file: {err}") from err
        return tables.require_columns(data, schema, str(file))

    def address_plan(self) -> dict[str, Any]:
        plan: dict[str, Any] = self._json("network/address_plan.json")
        return plan

    def deterministic_nat(self) -> list[dict[str, Any]]:
        config: list[dict[str, Any]] = self._json("network/deterministic_nat.json")
        return config

    def effects(self) -> dict[str, float]:
        effects: dict[str, float] = self._json("truth/effects.json")
        return effects

    def radius_detail_files(self) -> list[Path]:
        return sorted((self.path / "network" / "radius").glob("detail-*.log"))

    def cgnat_logs(self) -> dict[str, Path]:
        """nat_instance → its syslog file (the pool's `log_format` names the parser)."""
        return {
            pool["nat_instance"]: self._file(f"network/cgnat/{pool['nat_instance']}.log")
            for pool in self.address_plan()["pools"]
            if pool["kind"] == "cgnat_outside"
        }

    def has_truth(self) -> bool:
        return (self.path / "truth" / "hits.parquet").is_file()

    def outcomes_under(self, decisions: pa.Table) -> dict[str, pa.Table]:
        """Closed loop: churn, upgrades, nps, care_contacts, outages under `decisions`."""
        if not self.has_truth():
            raise NotFound(f"{self.path}: no truth/ folder, so no closed loop (not simulated)")
        decisions = tables.require_columns(decisions, tables.DECISIONS, "decisions")
        loop_tables = {
            name: self.table(f"truth/{name}")
            for name in ("loop_churn", "loop_nps", "loop_care", "upgrades")
        }
        out = loop.outcomes_under(
            loop_tables,
            self.effects(),
            decisions,
            self.table("truth/sessions"),
            self.table("truth/journeys"),
        )
        out["outages"] = self.table("outcomes/outages")
        return out
