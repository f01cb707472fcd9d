from __future__ import annotations

import pyarrow as pa

from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.services.network import evaluate_resolution
from netcx.tables import HITS_TRUTH, RESOLVED_HITS


def test_metrics_count_wrong_lines_missed_hits_and_resolved_unattributable() -> None:
    p = Pseudonymizer({"k1": b"k"}, "k1")
    ln, hh = (lambda x: p.pseudonym(IdKind.LINE, x)), (lambda x: p.pseudonym(IdKind.HOUSEHOLD, x))
    truth = [  # hit, true line, true household, attributable level
        (1, "L1", "H1", "line"),
        (2, "L2", "H2", "household"),
        (3, "L3", "H3", "line"),
        (4, None, None, "none"),
        (5, "L5", "H5", "line"),
    ]
    resolved = [  # hit, level, line, household
        (1, "line", ln("L1"), hh("H1")),  # right
        (2, "household", ln("L2"), hh("H2")),  # right
        (3, "line", ln("L9"), hh("H3")),  # wrong line, right household
        (4, "line", ln("L4"), hh("H4")),  # unattributable, resolved anyway
        (5, "unknown", None, None),  # missed
    ]
    t = pa.Table.from_pylist(
        [
            dict(
                zip(
                    ["hit_id", "true_line_id", "true_household_id", "attributable_level"],
                    r,
                    strict=True,
                )
            )
            for r in truth
        ],
        schema=HITS_TRUTH,
    )
    r = pa.Table.from_pylist(
        [
            dict(zip(["hit_id", "level", "line_id", "household_id"], x, strict=True))
            for x in resolved
        ],
        schema=RESOLVED_HITS,
    )
    m = evaluate_resolution(r, t, p)
    assert m["resolution.precision"] == 2 / 4
    assert m["resolution.recall"] == 2 / 4
    assert m["resolution.unattributable_resolved_share"] == 1.0
    assert m["resolution.household_accuracy"] == 3 / 4
