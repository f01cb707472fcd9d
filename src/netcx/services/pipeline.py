"""The whole batch pipeline over a world: resolve → identity → intents → decide → outcomes → report.

Stage contracts (columns in `netcx.tables`), each implemented in its own service module:

- `BatchResolver.resolve_hits(hits) -> RESOLVED_HITS`            (port; adapter built in bootstrap)
- `identity.build_session_identity(hits, resolved, pseudonymizer) -> SESSION_IDENTITY`
- `intents.detect_session_intents(hits) -> SESSION_INTENTS`
- `churn.evaluate_churn_on_world(world, intents, identity, pseudonymizer) -> dict[str, float]`
- `decisions.decide_sessions(identity, intents, world, settings, pseudonymizer) -> DECISIONS`
- `World.outcomes_under(decisions) -> {name: table}`              (closed loop of the simulator)
- `report.build_report(world, run_dir, pseudonymizer, extra) -> dict`; `report.write_report(...)`
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from netcx.config import Settings
from netcx.domain.pseudonyms import Pseudonymizer
from netcx.ports import BatchResolver, World
from netcx.services import churn, decisions, identity, intents, network, report

STAGES = (
    "resolve",
    "identity",
    "intents",
    "decide",
    "outcomes",
    "evaluate",
    "report",
)
"""Stage names in order; `on_stage` is called with each before it starts."""


@dataclass(frozen=True)
class PipelineDeps:
    """What the pipeline needs from the composition root."""

    settings: Settings
    pseudonymizer: Pseudonymizer
    batch_resolver: BatchResolver


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def run_pipeline(
    world: World,
    out: Path,
    deps: PipelineDeps,
    on_stage: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Run every stage over `world`, write each stage's table and the report into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    ps = deps.pseudonymizer

    def stage(name: str) -> float:
        on_stage(name)
        return time.perf_counter()

    hits = world.table("web/hits")

    t = stage("resolve")
    resolved = deps.batch_resolver.resolve_hits(hits)
    _write(resolved, out / "resolved_hits.parquet")
    timings["resolve"] = time.perf_counter() - t

    t = stage("identity")
    session_identity = identity.build_session_identity(hits, resolved, ps)
    _write(session_identity, out / "session_identity.parquet")
    timings["identity"] = time.perf_counter() - t

    t = stage("intents")
    session_intents = intents.detect_session_intents(hits)
    _write(session_intents, out / "session_intents.parquet")
    timings["intents"] = time.perf_counter() - t

    t = stage("decide")
    decided = decisions.decide_sessions(session_identity, session_intents, world, deps.settings, ps)
    _write(decided, out / "decisions.parquet")
    timings["decide"] = time.perf_counter() - t

    t = stage("outcomes")
    for name, table in world.outcomes_under(decided).items():
        _write(table, out / "outcomes" / f"{name}.parquet")
    timings["outcomes"] = time.perf_counter() - t

    t = stage("evaluate")
    evaluation: dict[str, Any] = {}
    if world.has_truth():
        truth_hits = world.table("truth/hits")
        evaluation.update(network.evaluate_resolution(resolved, truth_hits, ps))
        evaluation.update(intents.evaluate_intents(session_intents, truth_hits, hits))
    evaluation.update(churn.evaluate_churn_on_world(world, session_intents, session_identity, ps))
    evaluation.update(decisions.summarise_decisions(decided, deps.settings.decisions))
    (out / report.EVALUATION_FILE).write_text(json.dumps(evaluation, indent=2, sort_keys=True))
    (out / "run.json").write_text(
        json.dumps({"world": str(world.path.resolve()), "rows": {"hits": hits.num_rows}}, indent=2)
    )
    timings["evaluate"] = time.perf_counter() - t

    t = stage("report")
    result = report.build_report(
        world,
        out,
        ps,
        evaluation,
        deps.settings.measurement,
        decisions.load_policy_file(deps.settings.decisions.policy_file),
    )
    timings["report"] = time.perf_counter() - t
    result["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    report.write_report(result, out)
    return result
