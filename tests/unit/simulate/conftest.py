"""A tiny simulated world shared by the simulate unit tests (generated once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from netcx.simulate.generate import generate_world
from netcx.simulate.params import WorldParams
from netcx.simulate.world import WorldFolder

TINY = WorldParams(households=400, days=10, seed=7)


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> WorldFolder:
    out: Path = tmp_path_factory.mktemp("world")
    generate_world(TINY, out)
    return WorldFolder(out)


@pytest.fixture(scope="session")
def modest_world(tmp_path_factory: pytest.TempPathFactory) -> WorldFolder:
    """Big enough for statistics on churn and NPS (a few seconds to generate)."""
    out: Path = tmp_path_factory.mktemp("modest")
    params = WorldParams(
        households=5000, days=28, seed=5, true_nps_uplift=8.0, true_churn_relative_change=-0.4
    )
    generate_world(params, out)
    return WorldFolder(out)
