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
