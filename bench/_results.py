"""Merge benchmark numbers into bench/results.json (a flat object: dotted name → number)."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).with_name("results.json")


def record(numbers: dict[str, float]) -> None:
    """Update results.json with `numbers`, keeping every other benchmark's entries."""
    current: dict[str, float] = {}
    if RESULTS.exists():
        current = json.loads(RESULTS.read_text())
    current.update({k: round(float(v), 6) for k, v in numbers.items()})
    RESULTS.write_text(json.dumps(dict(sorted(current.items())), indent=2) + "\n")
