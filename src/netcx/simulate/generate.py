"""Writes a complete world folder (see docs/world.md) for a seed; same seed, same bytes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from netcx import tables
from netcx.simulate import loop, textlogs
from netcx.simulate.network import NAT_INSTANCES, build_network
from netcx.simulate.params import GENERATOR_VERSION, WorldParams
from netcx.simulate.population import build_population, crm_tables
from netcx.simulate.web import build_outages, build_web

Progress = Callable[[str], None]
STEPS = 8  # calls of `progress` per world


def write_parquet(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd", row_group_size=1_000_000)


def write_json(data: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def generate_world(p: WorldParams, out: Path, progress: Progress | None = None) -> dict[str, int]:
    """Simulate and write the world; returns row counts per table."""
    step = progress or (lambda _: None)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(p.seed).spawn(8)]
    step("population")
    pop = build_population(p, streams[0])
    crm = crm_tables(pop, p, streams[1])
    for name, table in crm.items():
        write_parquet(table, out / "crm" / f"{name}.parquet")
    step("network sessions")
    net = build_network(pop, p, streams[2])
    write_parquet(net.radius.table, out / "network" / "radius.parquet")
    write_json(net.address_plan, out / "network" / "address_plan.json")
    write_json(net.deterministic_nat, out / "network" / "deterministic_nat.json")
    step("RADIUS detail files")
    textlogs.write_detail_files(net.radius, out / "network" / "radius")
    step("CGNAT syslog")
    for name, log_format, _, _ in NAT_INSTANCES:
        textlogs.write_cgnat_log(
            net.cgnat[name], name, log_format, out / "network" / "cgnat" / f"{name}.log", streams[3]
        )
    step("web traffic")
    outages = build_outages(pop, p, streams[4])
    web = build_web(pop, p, net, outages, streams[5])
    write_parquet(web.hits, out / "web" / "hits.parquet")
    write_parquet(web.truth, out / "truth" / "hits.parquet")
    write_parquet(web.journeys, out / "truth" / "journeys.parquet")
    sessions = web.sessions
    write_parquet(sessions, out / "truth" / "sessions.parquet")
    step("outcomes")
    loop_tables = loop.build_loop_tables(pop, p, web, streams[6])
    for name in ("loop_churn", "loop_nps", "loop_care", "upgrades"):
        write_parquet(loop_tables[name], out / "truth" / f"{name}.parquet")
    baseline = loop.outcomes_under(
        loop_tables, p.effects(), tables.DECISIONS.empty_table(), sessions, web.journeys
    )
    baseline["outages"] = loop.outages_table(outages)
    for name, table in baseline.items():
        write_parquet(table, out / "outcomes" / f"{name}.parquet")
    write_json(p.effects(), out / "truth" / "effects.json")
    step("meta")
    counts = {
        "radius": net.radius.table.num_rows,
        "cgnat_events": sum(t.num_rows for t in net.cgnat.values()),
        "hits": web.hits.num_rows,
        "lines": crm["lines"].num_rows,
        "journeys": web.journeys.num_rows,
    }
    meta = {
        "generator_version": GENERATOR_VERSION,
        "seed": p.seed,
        "households": p.households,
        "days": p.days,
        "start_ms": p.start_s * 1000,
        "end_ms": p.end_s * 1000,
        "outcome_end_ms": p.outcome_end_s * 1000,
        "interim_interval_s": p.interim_interval_s,
        "reboot": {"nas_identifier": "bng-02", "at_ms": net.reboot_s * 1000},
        "rows": counts,
        **p.effects(),
    }
    # Written last: a folder without meta.json is an incomplete world.
    write_json(meta, out / "meta.json")
    step("done")
    return counts
