"""Churn propensity on any customer table: automatic column typing, calibrated boosting, metrics.

Deterministic (fixed seeds), no I/O: callers read tables and store models.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from netcx.errors import InvalidInput

SEED = 0
THREADS = 1  # OpenMP threads of the booster: more only pays off on big, otherwise idle hosts
MAX_CATEGORIES = 254  # HistGradientBoosting allows up to 255 bins; one is kept for "other"
_NUMERIC_SHARE = 0.95  # a text column whose non-blank values parse as numbers this often
_ID_LIKE_SHARE = 0.5  # a text column with more distinct values than this share is an id
_ID_LIKE_MIN = 20
_POSITIVE = {"yes", "y", "true", "t", "1", "1.0", "churn", "churned", "left", "cancelled"}
_NEGATIVE = {"no", "n", "false", "f", "0", "0.0", "stayed", "retained", "active", "kept"}


@dataclass(frozen=True)
class ColumnSpec:
    """How one input column becomes one model feature."""

    name: str
    kind: str  # numeric | categorical
    categories: tuple[str, ...] = ()  # categorical: code i is categories[i]; others → "other"


@dataclass(frozen=True)
class FeaturePlan:
    columns: tuple[ColumnSpec, ...]
    dropped: tuple[str, ...] = ()  # columns left out (id-like text, constant, empty)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


# ---------------------------------------------------------------- typing and encoding


def _as_text(col: pa.ChunkedArray) -> list[str | None]:
    values: list[Any] = col.to_pylist()
    return [None if v is None else str(v).strip() for v in values]


def _parse_number(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        number = float(text.replace(",", "")) if "," in text and "." in text else float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _numeric_values(col: pa.ChunkedArray) -> np.ndarray | None:
    """The column as floats (NaN for missing), or None when it is not numeric."""
    t = col.type
    if pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_floating(t):
        return np.asarray(pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
    if pa.types.is_decimal(t):
        return np.asarray(pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        days = pc.cast(pc.cast(col, pa.timestamp("s")), pa.int64())
        return np.asarray(days.to_numpy(zero_copy_only=False), dtype=float) / 86400.0
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        texts = _as_text(col)
        non_blank = [x for x in texts if x]
        if not non_blank:
            return None
        parsed = [_parse_number(x) for x in texts]
        ok = sum(1 for x, p in zip(texts, parsed, strict=True) if x and p is not None)
        if ok / len(non_blank) < _NUMERIC_SHARE:
            return None
        return np.array([np.nan if p is None else p for p in parsed], dtype=float)
    return None


def infer_plan(table: pa.Table, exclude: Sequence[str]) -> FeaturePlan:
    """Type every column not in `exclude`: numeric, categorical, or dropped (id-like, constant)."""
    specs: list[ColumnSpec] = []
    dropped: list[str] = []
    n = max(table.num_rows, 1)
    for name in table.column_names:
        if name in exclude:
            continue
        col = table.column(name)
        values = _numeric_values(col)
        if values is not None:
            present = values[~np.isnan(values)]
            if present.size == 0 or np.all(present == present[0]):
                dropped.append(name)
            else:
                specs.append(ColumnSpec(name, "numeric"))
            continue
        texts = [x for x in _as_text(col) if x]
        counts = Counter(texts)
        id_like = len(counts) > _ID_LIKE_SHARE * n and len(counts) > _ID_LIKE_MIN
        if len(counts) <= 1 or id_like:
            dropped.append(name)
            continue
        top = tuple(sorted(v for v, _ in counts.most_common(MAX_CATEGORIES)))
        specs.append(ColumnSpec(name, "categorical", top))
    if not specs:
        raise InvalidInput("no usable feature columns (all were ids, constant or empty)")
    return FeaturePlan(tuple(specs), tuple(dropped))


def encode(plan: FeaturePlan, table: pa.Table, source: str = "data") -> np.ndarray:
    """The feature matrix of `table` under `plan` (NaN = missing; categories as codes)."""
    missing = [c.name for c in plan.columns if c.name not in table.column_names]
    if missing:
        raise InvalidInput(f"{source}: missing column(s) the model needs: {', '.join(missing)}")
    out = np.empty((table.num_rows, len(plan.columns)), dtype=float)
    for j, spec in enumerate(plan.columns):
        col = table.column(spec.name)
        if spec.kind == "numeric":
            values = _numeric_values(col)
            if values is None:
                values = np.array([_parse_number(x) or np.nan for x in _as_text(col)], dtype=float)
            out[:, j] = values
        else:
            codes = {v: i for i, v in enumerate(spec.categories)}
            other = float(len(spec.categories))
            out[:, j] = [np.nan if not x else codes.get(x, other) for x in _as_text(col)]
    return out


def binary_target(col: pa.ChunkedArray, name: str) -> tuple[np.ndarray, str, np.ndarray]:
    """(labels 0/1, the positive label, mask of rows that have a label) of a target column."""
    texts = _as_text(col)
    present = np.array([bool(x) for x in texts])
    distinct = sorted({x for x in texts if x})
    if len(distinct) != 2:
        shown = ", ".join(repr(d) for d in distinct[:6]) + (" …" if len(distinct) > 6 else "")
        raise InvalidInput(
            f"target column {name!r} is not binary: {len(distinct)} distinct value(s) "
            f"({shown}); expected two such as Yes/No, 1/0 or true/false"
        )
    lowered = [d.lower() for d in distinct]
    if lowered[0] in _POSITIVE and lowered[1] in _NEGATIVE:
        positive = distinct[0]
    elif lowered[1] in _POSITIVE and lowered[0] in _NEGATIVE:
        positive = distinct[1]
    else:  # unknown pair of labels: the rarer one is the event we predict
        counts = Counter(x for x in texts if x)
        positive = min(distinct, key=lambda d: (counts[d], d))
    y = np.array([1 if x == positive else 0 for x in texts], dtype=np.int8)
    return y, positive, present


# ---------------------------------------------------------------- model


@dataclass
class ChurnModel:
    """A fitted, calibrated churn model with the plan that turns a table into its features."""

    plan: FeaturePlan
    estimator: Any
    target: str
    positive_label: str
    id_column: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    def predict(self, table: pa.Table, source: str = "data") -> np.ndarray:
        """Calibrated churn probability per row of `table`."""
        return predict_proba(self.estimator, encode(self.plan, table, source))


def predict_proba(estimator: Any, x: np.ndarray) -> np.ndarray:
    """Probability of the positive class per row of the feature matrix `x`."""
    with threadpool_limits(limits=THREADS):
        return np.asarray(estimator.predict_proba(x)[:, 1], dtype=float)


def fit(plan: FeaturePlan, x: np.ndarray, y: np.ndarray) -> Any:
    """Gradient boosting with calibrated probabilities (isotonic when there is enough data)."""
    mask = np.array([c.kind == "categorical" for c in plan.columns])
    booster = HistGradientBoostingClassifier(
        max_iter=100,
        learning_rate=0.1,
        max_leaf_nodes=15,
        min_samples_leaf=20,
        l2_regularization=1.0,
        categorical_features=mask if mask.any() else None,
        early_stopping=False,
        random_state=SEED,
    )
    positives = int(y.sum())
    folds = max(2, min(3, positives, len(y) - positives))
    method = "isotonic" if positives >= 100 else "sigmoid"
    model = CalibratedClassifierCV(booster, method=method, cv=folds)
    with threadpool_limits(limits=THREADS):
        model.fit(x, y)
    return model


def split_rows(
    n: int, y: np.ndarray, time_values: np.ndarray | None, test_share: float = 0.25
) -> tuple[np.ndarray, np.ndarray, str]:
    """Train/test row indices: by time when a time column is given, else stratified random."""
    if time_values is not None:
        order = np.argsort(time_values, kind="stable")
        cut = round(n * (1 - test_share))
        return order[:cut], order[cut:], "time"
    idx = np.arange(n)
    train, test = train_test_split(idx, test_size=test_share, random_state=SEED, stratify=y)
    return np.asarray(train), np.asarray(test), "random_stratified"


def churn_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """AUC, PR-AUC, top-decile lift, Brier score and a 10-bin calibration table."""
    if y.min() == y.max():
        raise InvalidInput("the test rows hold only one class; AUC is undefined")
    base = float(y.mean())
    order = np.argsort(-p, kind="stable")
    top = order[: max(1, math.ceil(0.1 * len(y)))]
    bins = []
    ece = 0.0
    # deciles of the predictions; equal predictions share a bin (isotonic output has ties)
    inner = np.unique(np.quantile(p, np.linspace(0, 1, 11))[1:-1])
    which = np.searchsorted(inner, p, side="right")
    for b in np.unique(which):
        chunk = which == b
        mean_p, observed = float(p[chunk].mean()), float(y[chunk].mean())
        bins.append({"p_mean": mean_p, "observed": observed, "n": int(chunk.sum())})
        ece += chunk.sum() / len(y) * abs(mean_p - observed)
    return {
        "auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "top_decile_lift": float(y[top].mean() / base),
        "brier": float(brier_score_loss(y, p)),
        "base_rate": base,
        "calibration": {"ece": float(ece), "bins": bins},
    }


def train_and_evaluate(
    table: pa.Table,
    target: str,
    id_column: str | None = None,
    time_column: str | None = None,
    source: str = "data",
    exclude: Sequence[str] = (),
) -> ChurnModel:
    """Type the columns, split (by time if given), fit on the training rows and measure on
    the held-out rows; the returned model is the one the metrics describe. `exclude` names
    columns that must not be features (e.g. gender or age, for fairness)."""
    named = [(target, "--target"), (id_column, "--id"), (time_column, "--time")]
    for name, what in [*named, *((e, "--exclude") for e in exclude)]:
        if name is not None and name not in table.column_names:
            raise InvalidInput(
                f"{source}: no column {name!r} ({what}); columns are: "
                + ", ".join(table.column_names)
            )
    y_all, positive, labelled = binary_target(table.column(target), target)
    rows = np.flatnonzero(labelled)
    data = table.take(pa.array(rows))
    y = y_all[rows]
    if min(int(y.sum()), len(y) - int(y.sum())) < 10:
        raise InvalidInput(f"target column {target!r}: need at least 10 rows of each class")
    not_features = [c for c in (target, id_column, time_column, *exclude) if c]
    times = None
    if time_column is not None:
        times = _numeric_values(data.column(time_column))
        if times is None:
            raise InvalidInput(f"--time column {time_column!r} is not a number or timestamp")
    train_idx, test_idx, how = split_rows(len(y), y, times)
    train_tab = data.take(pa.array(train_idx))
    plan = infer_plan(train_tab, not_features)
    estimator = fit(plan, encode(plan, train_tab, source), y[train_idx])
    model = ChurnModel(plan, estimator, target, positive, id_column)
    p = model.predict(data.take(pa.array(test_idx)), source)
    metrics = churn_metrics(y[test_idx], p)
    metrics.update(
        {
            "n_train": len(train_idx),
            "n_test": len(test_idx),
            "split": how,
            "target": target,
            "positive_label": positive,
            "rows_without_target": int(table.num_rows - len(rows)),
            "features": {c.name: c.kind for c in plan.columns},
            "dropped_columns": list(plan.dropped),
            "excluded_columns": list(exclude),
        }
    )
    model.metrics = metrics
    return model
