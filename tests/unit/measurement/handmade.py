"""Hand-made worlds and run directories for the measurement tests (until real worlds are cheap).

`tiny_run` is small enough to count every figure by hand; `random_run` draws a few hundred
accounts with a known NPS uplift and churn change, for the page, CLI and browser tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from netcx import tables
from netcx.domain.decisions.policy import Policy
from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.services.decisions import load_policy_file

DAY = 86_400_000
T0 = 1_772_409_600_000
PSEUDONYMIZER = Pseudonymizer({"k1": b"test-key"}, "k1")

WORLD_TABLES = {
    "crm/accounts": tables.ACCOUNTS,
    "crm/lines": tables.LINES,
    "outcomes/outages": tables.OUTAGES,
}


class HandmadeWorld:
    """A world folder with CRM, outages and meta.json; implements the World port."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def table(self, name: str) -> pa.Table:
        file = self.path / f"{name}.parquet"
        return tables.require_columns(pq.read_table(file), WORLD_TABLES[name], str(file))

    def has_truth(self) -> bool:
        return (self.path / "meta.json").is_file()

    def outcomes_under(self, decisions: pa.Table) -> dict[str, pa.Table]:
        raise NotImplementedError("hand-made worlds have no closed loop")


def ac(raw: str) -> str:
    return PSEUDONYMIZER.pseudonym(IdKind.ACCOUNT, raw)


@dataclass
class Rows:
    """Rows per table, raw CRM ids in world/outcome tables, pseudonyms in derived tables."""

    accounts: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    outages: list[dict[str, Any]] = field(default_factory=list)
    resolved: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    intents: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    churn: list[dict[str, Any]] = field(default_factory=list)
    upgrades: list[dict[str, Any]] = field(default_factory=list)
    nps: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)

    def account(self, raw: str, area: str = "ar1") -> None:
        self.accounts.append(
            {"account_id": raw, "segment": "consumer", "created_ms": T0 - 900 * DAY}
        )
        self.lines.append(
            {
                "line_id": f"L{raw}",
                "kind": "mobile",
                "household_id": f"H{raw}",
                "account_id": raw,
                "tariff": "M",
                "contract_start_ms": T0 - 400 * DAY,
                "contract_end_ms": T0 + 330 * DAY,
                "monthly_charge_eur": 30.0,
                "area_id": area,
            }
        )

    def session(
        self,
        sid: str,
        raw_account: str | None,
        start_ms: int,
        *,
        login_ms: int | None = None,
        channel: str = "web",
        intent: str | None = None,
    ) -> None:
        recognition = "authenticated" if login_ms is not None else "network_line"
        if raw_account is None:
            recognition = "anonymous"
        self.sessions.append(
            {
                "session_id": sid,
                "visitor_id": f"v-{sid}",
                "start_ms": start_ms,
                "end_ms": start_ms + 600_000,
                "channel": channel,
                "recognition": recognition,
                "recognised_ms": None if raw_account is None else start_ms + 1000,
                "login_ms": login_ms,
                "confidence": 0.9,
                "account_id": None if raw_account is None else ac(raw_account),
            }
        )
        if intent is not None:
            self.intents.append(
                {
                    "session_id": sid,
                    "intent": intent,
                    "score": 1.5,
                    "emerged_ms": start_ms + 30_000,
                    "first_signal_ms": start_ms + 10_000,
                    "evidence": "[]",
                }
            )

    def decision(
        self, sid: str, raw_account: str, ts_ms: int, *, holdout: bool, experience: str = "exp"
    ) -> None:
        self.decisions.append(
            {
                "decision_id": f"d{len(self.decisions)}",
                "ts_ms": ts_ms,
                "session_id": sid,
                "visitor_id": f"v-{sid}",
                "account_id": ac(raw_account),
                "recognition": "network_line",
                "intent": "churn_research",
                "experience": experience,
                "reason": "holdout:experience" if holdout else "eligible",
                "holdout": holdout,
                "shown": not holdout,
            }
        )

    def contact(
        self,
        raw_account: str,
        ts_ms: int,
        reason: str,
        *,
        repeat: bool = False,
        asked: bool = False,
    ) -> None:
        self.contacts.append(
            {
                "contact_id": f"c{len(self.contacts)}",
                "account_id": raw_account,
                "line_id": f"L{raw_account}",
                "ts_ms": ts_ms,
                "channel": "call",
                "reason": reason,
                "repeat_within_7d": repeat,
                "asked_again": asked,
            }
        )

    def write(self, root: Path, truth: dict[str, float] | None = None) -> tuple[Path, Path]:
        """Write world/ and run/ under `root`; returns (world_dir, run_dir)."""
        world, run = root / "world", root / "run"
        parts: list[tuple[Path, str, list[dict[str, Any]], pa.Schema]] = [
            (world, "crm/accounts", self.accounts, tables.ACCOUNTS),
            (world, "crm/lines", self.lines, tables.LINES),
            (world, "outcomes/outages", self.outages, tables.OUTAGES),
            (run, "resolved_hits", self.resolved, tables.RESOLVED_HITS),
            (run, "session_identity", self.sessions, tables.SESSION_IDENTITY),
            (run, "session_intents", self.intents, tables.SESSION_INTENTS),
            (run, "decisions", self.decisions, tables.DECISIONS),
            (run, "outcomes/churn", self.churn, tables.CHURN),
            (run, "outcomes/upgrades", self.upgrades, tables.UPGRADES),
            (run, "outcomes/nps", self.nps, tables.NPS),
            (run, "outcomes/care_contacts", self.contacts, tables.CARE_CONTACTS),
        ]
        for base, name, rows, schema in parts:
            path = base / f"{name}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
        if truth is not None:
            (world / "meta.json").write_text(json.dumps({"seed": 1, **truth}), encoding="utf-8")
        return world, run


def random_run(
    root: Path, *, accounts: int = 600, nps_uplift: float = 20.0, seed: int = 3
) -> tuple[HandmadeWorld, Path]:
    """A few hundred accounts, half randomised to holdout, with a real NPS uplift for treated."""
    rng = np.random.default_rng(seed)
    rows = Rows()
    rows.outages.append(
        {
            "outage_id": "o1",
            "area_id": "ar1",
            "start_ms": T0 + 3 * DAY,
            "end_ms": T0 + 3 * DAY + 7_200_000,
            "eta_ms": T0 + 3 * DAY + 3_600_000,
        }
    )
    for i in range(accounts):
        raw = f"A{i:05d}"
        rows.account(raw, area=f"ar{i % 5 + 1}")
        holdout = bool(rng.random() < 0.5)
        churn_researcher = bool(rng.random() < 0.3)
        for j in range(int(rng.integers(1, 4))):
            sid = f"s{i}-{j}"
            start = T0 + int(rng.integers(0, 14 * DAY))
            logged_in = bool(rng.random() < 0.2)
            intent = (
                "churn_research"
                if churn_researcher and j == 0
                else ("upgrade" if rng.random() < 0.3 else None)
            )
            rows.session(
                sid,
                raw,
                start,
                login_ms=start + 120_000 if logged_in else None,
                channel="app" if rng.random() < 0.3 else "web",
                intent=intent,
            )
            rows.resolved.append(
                {
                    "hit_id": len(rows.resolved),
                    "level": "line",
                    "reason": "lease",
                    "confidence": 0.9,
                    "account_id": ac(raw),
                    "evidence": "[]",
                }
            )
            if intent is not None:
                rows.decision(
                    sid,
                    raw,
                    start + 40_000,
                    holdout=holdout,
                    experience="retention" if intent == "churn_research" else "upgrade",
                )
        first = min(
            (d["ts_ms"] for d in rows.decisions if d["account_id"] == ac(raw)), default=None
        )
        if first is None:
            continue
        base_churn = 0.25 if churn_researcher else 0.05
        if rng.random() < base_churn * (1.0 if holdout else 0.8):
            rows.churn.append(
                {
                    "line_id": f"L{raw}",
                    "account_id": raw,
                    "churn_ms": first + int(rng.integers(1, 40)) * DAY,
                }
            )
        if rng.random() < 0.1:
            rows.upgrades.append(
                {"line_id": f"L{raw}", "account_id": raw, "upgrade_ms": first + 2 * DAY}
            )
        if rng.random() < 0.3:  # pre-period answer
            rows.nps.append(
                {
                    "account_id": raw,
                    "survey_ms": first - 20 * DAY,
                    "score": int(rng.integers(0, 11)),
                }
            )
        if rng.random() < 0.8:
            shift = 0.0 if holdout else nps_uplift / 100
            u = rng.random()
            score = 10 if u < 0.3 + shift / 2 else (7 if u < 0.6 else 3)
            rows.nps.append({"account_id": raw, "survey_ms": first + 5 * DAY, "score": score})
        for k in range(int(rng.poisson(0.8))):
            rows.contact(
                raw,
                first + (k + 1) * DAY,
                str(rng.choice(["billing", "complaint", "cancel", "device"])),
                repeat=bool(rng.random() < (0.3 if holdout else 0.2)),
                asked=bool(rng.random() < 0.3),
            )
    world_dir, run_dir = rows.write(
        root, truth={"true_nps_uplift": nps_uplift, "true_churn_relative_change": -0.2}
    )
    return HandmadeWorld(world_dir), run_dir


def designed_policy(
    experience_share: float,
    universal_share: float = 0.0,
    experiences: tuple[str, ...] = ("exp", "retention", "upgrade", "support_high_intent"),
) -> Policy:
    """The shipped decision policy with the given designed holdout shares, its experiences
    renamed to `experiences` (the ids a handmade run's decisions use)."""
    shipped = load_policy_file(None)
    template = shipped.experiences[0]
    return shipped.model_copy(
        update={
            "holdouts": shipped.holdouts.model_copy(update={"universal_share": universal_share}),
            "experiences": tuple(
                template.model_copy(update={"id": e, "holdout_share": experience_share})
                for e in experiences
            ),
        }
    )
