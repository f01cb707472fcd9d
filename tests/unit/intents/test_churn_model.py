"""Automatic typing, binary targets, metrics, and leakage-free features of the churn model."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from netcx.domain.churn import features
from netcx.domain.churn.features import DAY_MS, Line, Timeline, timelines
from netcx.domain.churn.model import binary_target, churn_metrics, infer_plan, train_and_evaluate
from netcx.errors import InvalidInput


@pytest.mark.parametrize(
    ("values", "positive"),
    [
        (["Yes", "No", "No"], "Yes"),
        (["no", "YES", "no"], "YES"),
        (["0", "1", "1"], "1"),
        ([True, False, False], "True"),
        ([1, 0, 0], "1"),
        (["churned", "active"], "churned"),
        (["gold", "gold", "silver"], "silver"),  # unknown labels: the rarer one
    ],
)
def test_binary_targets_find_the_positive_label(values: list[object], positive: str) -> None:
    y, label, present = binary_target(pa.chunked_array([pa.array(values)]), "t")
    assert label == positive
    assert y.tolist() == [int(str(v).strip() == positive) for v in values]
    assert present.all()


def test_a_target_with_three_values_is_refused_with_the_values() -> None:
    col = pa.chunked_array([pa.array(["Month-to-month", "One year", "Two year", None])])
    with pytest.raises(InvalidInput, match=r"'Contract' is not binary: 3 distinct.*'One year'"):
        binary_target(col, "Contract")


def test_blank_targets_are_unlabelled_rows() -> None:
    _, _, present = binary_target(pa.chunked_array([pa.array(["Yes", " ", None, "No"])]), "t")
    assert present.tolist() == [True, False, False, True]


def test_columns_are_typed_automatically() -> None:
    n = 100
    table = pa.table(
        {
            "customerID": [f"{i:04d}-ABCD" for i in range(n)],
            "TotalCharges": [" " if i % 10 == 0 else f"{i * 1.5:.2f}" for i in range(n)],
            "Contract": ["Month-to-month", "One year"] * (n // 2),
            "SeniorCitizen": [i % 2 for i in range(n)],
            "constant": ["x"] * n,
            "when": pa.array([i * 86_400 for i in range(n)], pa.timestamp("s")),
        }
    )
    plan = infer_plan(table, exclude=())
    kinds = {c.name: c.kind for c in plan.columns}
    assert kinds == {
        "TotalCharges": "numeric",
        "Contract": "categorical",
        "SeniorCitizen": "numeric",
        "when": "numeric",
    }
    assert set(plan.dropped) == {"customerID", "constant"}


def test_metrics_of_a_perfect_and_a_useless_ranking() -> None:
    y = np.array([0] * 90 + [1] * 10)
    perfect = churn_metrics(y, np.linspace(0, 1, 100))
    assert perfect["auc"] == 1.0
    assert perfect["top_decile_lift"] == pytest.approx(10.0)
    flat = churn_metrics(y, np.full(100, 0.1))
    assert flat["auc"] == 0.5
    assert flat["calibration"]["ece"] == pytest.approx(0.0, abs=1e-9)


def test_training_needs_both_classes() -> None:
    table = pa.table({"x": list(range(50)), "churn": ["No"] * 45 + ["Yes"] * 5})
    with pytest.raises(InvalidInput, match="at least 10 rows of each class"):
        train_and_evaluate(table, "churn")


def test_a_learnable_signal_is_learned() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=2000)
    churn = np.where(rng.random(2000) < 1 / (1 + np.exp(-3 * x)), "Yes", "No")
    noise = rng.choice(["a", "b", "c"], 2000)
    model = train_and_evaluate(pa.table({"x": x, "noise": noise, "Churn": churn}), "Churn")
    assert model.metrics["auc"] > 0.8
    assert model.metrics["n_train"] == 1500
    assert model.metrics["split"] == "random_stratified"


LINE = Line(
    line_id="ln",
    household_id="hh",
    account_id="ac",
    kind="mobile",
    tariff="M",
    device_model="Pixel 8",
    monthly_charge_eur=30.0,
    contract_start_ms=0,
    contract_end_ms=800 * DAY_MS,
    area_id="AR1",
    segment="consumer",
    household_lines=2,
    has_fixed=True,
)

event_days = st.lists(st.integers(min_value=0, max_value=200), max_size=30)


@given(event_days, event_days, st.integers(min_value=0, max_value=200))
def test_features_only_see_the_past(care_days: list[int], web_days: list[int], at: int) -> None:
    """Adding events at or after the prediction date never changes a feature."""
    at_ms = at * DAY_MS

    def feats(cut: bool) -> dict[str, object]:
        keep = (lambda d: d * DAY_MS < at_ms) if cut else (lambda d: True)
        care = timelines(("ln", d * DAY_MS, "cancel", d * DAY_MS) for d in care_days if keep(d))
        web = timelines(("hh", d * DAY_MS, "churn_research", 0) for d in web_days if keep(d))
        outages = timelines(("AR1", d * DAY_MS, "outage", d * DAY_MS + 3_600_000)
                            for d in care_days if keep(d))  # fmt: skip
        row = features.crm_features(LINE, at_ms, care, outages)
        row.update(features.web_features(LINE, at_ms, {}, web))
        return row

    assert feats(cut=True) == feats(cut=False)


def test_web_features_count_and_date_the_research() -> None:
    web = timelines(("hh", (100 - d) * DAY_MS, "churn_research", 0) for d in (1, 3, 20))
    web["hh"] = timelines(
        [("hh", (100 - d) * DAY_MS, "churn_research", 0) for d in (1, 3, 20)]
        + [("hh", 97 * DAY_MS, "topic:porting", 0)]
    )["hh"]
    row = features.web_features(LINE, 100 * DAY_MS, {}, web)
    assert row["web_hh_porting_30d"] == 1
    assert row["web_hh_porting_days_since"] == 3.0
    assert row["web_hh_cancellation_30d"] == 0
    assert row["web_hh_sessions_30d"] == 3
    assert row["web_hh_churn_research_7d"] == 2
    assert row["web_hh_churn_research_30d"] == 3
    assert row["web_hh_churn_research_days_since"] == 1.0
    assert row["web_line_churn_research_30d"] == 0


def test_lead_time_summary() -> None:
    got = features.lead_time_summary([3.0, 10.0, 16.0, 40.0], churners=8)
    assert got["churn.lead_time_days_median"] == 13.0
    assert got["churn.lead_time_share_ge_7d"] == 0.75
    assert got["churn.lead_time_share_ge_14d"] == 0.5
    assert got["churn.lead_time_share_ge_30d"] == 0.25
    assert got["churn.research_signal_coverage"] == 0.5
    assert math.isnan(features.lead_time_summary([], 3)["churn.lead_time_days_median"])


def test_first_research_is_the_earliest_of_line_and_household() -> None:
    by_line = {"ln": Timeline([50 * DAY_MS], ["churn_research"], [0])}
    by_hh = {"hh": Timeline([40 * DAY_MS, 45 * DAY_MS], ["roaming", "churn_research"], [0, 0])}
    assert features.first_research_ms(LINE, 60 * DAY_MS, by_line, by_hh) == 45 * DAY_MS
    assert features.first_research_ms(LINE, 44 * DAY_MS, by_line, by_hh) is None
