"""Do the report's 95 % intervals cover the simulator's true effects? (closed loop, many seeds)

For each of 20 seeds a small world is simulated; every high-intent journey gets a decision on
its first session, and each billing account is randomised 50/50 to holdout — three independent
randomisations per world, so 60 replications estimate the coverage to within a few points (with
one per world, a 95 % interval misses 2+ of 20 by chance in a quarter of seed sets). The world's
closed loop (`WorldFolder.outcomes_under`) produces the outcomes; `build_report` measures them.

- NPS: the configured true uplift (points for supported respondents) must lie in the interval.
- Churn: the truth is the sample's own effect, read from the same closed loop run twice with
  common random numbers — every unit treated vs none treated — since the configured effect is
  relative to a base rate the world draws.
- With a true effect of zero (the same worlds viewed with zero effects: the effects enter only
  in the closed loop), at most 10 % of seeds may show a significant difference.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from netcx.simulate.generate import generate_world
from netcx.simulate.params import WorldParams
from netcx.simulate.world import WorldFolder
from tests.integration.measurement.closed_loop import (
    churned_units,
    decisions_for_high_intent_journeys,
    measure,
    zero_effect_view,
)

SEEDS = range(1, 21)
RANDOMISATIONS = 10
HOUSEHOLDS, DAYS = 800, 14


@pytest.mark.slow
@pytest.mark.integration
def test_intervals_cover_true_effects_and_zero_effects_rarely_look_significant(
    tmp_path: Path,
) -> None:
    rows = []
    for seed in SEEDS:
        world_dir, view = tmp_path / f"world-{seed}", tmp_path / f"zero-{seed}"
        generate_world(WorldParams(households=HOUSEHOLDS, days=DAYS, seed=seed), world_dir)
        world = WorldFolder(world_dir)
        view.mkdir()
        zero_world = zero_effect_view(world_dir, view)
        # The units (accounts with a decision) do not depend on the draw: one churn truth.
        all_on = churned_units(world, decisions_for_high_intent_journeys(world, 0, holdout=False))
        all_off = churned_units(world, decisions_for_high_intent_journeys(world, 0, holdout=True))
        churn_truth = float(all_on.mean() - all_off.mean())
        for r in range(RANDOMISATIONS):
            draw = 1000 * seed + r
            decisions = decisions_for_high_intent_journeys(world, draw)
            m = measure(world, decisions, tmp_path / f"run-{draw}")
            m0 = measure(zero_world, decisions, tmp_path / f"run0-{draw}")
            nps, churn = m["nps_uplift"], m["churn_difference"]
            cuped = nps["cuped"]["adjusted"]["ci95"]
            rows.append(
                {
                    "seed": seed,
                    "draw": r,
                    "nps": nps["value"],
                    "nps_ci": nps["ci95"],
                    "nps_n": (nps["n_treated"], nps["n_control"]),
                    "nps_covers": nps["ci95"][0] <= nps["true_effect"] <= nps["ci95"][1],
                    "cuped_covers": cuped[0] <= nps["true_effect"] <= cuped[1],
                    "cuped_variance_reduction": nps["cuped"]["variance_reduction"],
                    "churn_ci": churn["ci95"],
                    "churn_truth": churn_truth,
                    "churn_covers": churn["ci95"][0] <= churn_truth <= churn["ci95"][1],
                    "nps0_significant": m0["nps_uplift"]["p_value"] < 0.05,
                    "churn0_significant": m0["churn_difference"]["p_value"] < 0.05,
                    "nps_true": nps["true_effect"],
                    "nps0_true": m0["nps_uplift"]["true_effect"],
                    "srm_mismatch": m["experiment"]["srm"]["mismatch"],
                }
            )
        for path in (world_dir, view):  # keep the temp dir small
            shutil.rmtree(path)
    frame = pd.DataFrame(rows)
    summary = frame[
        [
            "nps_covers",
            "cuped_covers",
            "churn_covers",
            "nps0_significant",
            "churn0_significant",
            "cuped_variance_reduction",
        ]
    ].mean()
    report = f"{frame.to_string()}\n\n{summary.to_string()}\n"
    out = Path("test-artifacts")
    out.mkdir(exist_ok=True)
    (out / "coverage.txt").write_text(report, encoding="utf-8")
    assert (frame["nps_true"] == 5.0).all() and (frame["nps0_true"] == 0.0).all()
    assert summary["nps_covers"] >= 0.9, report
    assert summary["churn_covers"] >= 0.9, report
    assert summary["nps0_significant"] <= 0.1, report
    assert summary["churn0_significant"] <= 0.1, report
    assert not frame["srm_mismatch"].any(), report
    if summary["cuped_covers"] < 0.9:
        # Known open bug (issue #8 note): since the world's churn became CRM-driven the
        # CUPED-adjusted interval covers 89.5 % over 200 replications. Kept visible as an
        # expected failure until the interval is fixed; the issue stays open.
        pytest.xfail(f"CUPED-adjusted NPS interval covers {summary['cuped_covers']:.1%} < 90 %")
