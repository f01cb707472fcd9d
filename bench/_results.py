"""Merge benchmark numbers into bench/results.json (a flat object: dotted name → number)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).with_name("results.json")


def record(numbers: dict[str, float]) -> None:
    """Update results.json with `numbers`, keeping every other benchmark's entries."""
    current: dict[str, float] = {}
    if RESULTS.exists():
        current = json.loads(RESULTS.read_text())
    current.update({k: round(float(v), 6) for k, v in numbers.items()})
    RESULTS.write_text(json.dumps(dict(sorted(current.items())), indent=2) + "\n")


def help_or_run(doc: str | None) -> None:
    """`--help` / `-h` prints the benchmark's docstring and exits (a benchmark without
    options would otherwise start a several-minute run); any other argument is refused."""
    args = sys.argv[1:]
    if args in (["--help"], ["-h"]):
        print((doc or "").strip())
        raise SystemExit(0)
    if args:
        raise SystemExit(f"{Path(sys.argv[0]).name} takes no arguments (got {args}); see --help")
