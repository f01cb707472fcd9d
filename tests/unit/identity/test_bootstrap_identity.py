"""Bootstrap: the pseudonym key in force follows the rotation schedule; stores by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from netcx.adapters.storage.memory_identity import MemoryIdentityStore
from netcx.adapters.storage.sqlite_identity import SqliteIdentityStore
from netcx.bootstrap import build_identity_stores, build_pseudonymizer
from netcx.config import load_settings
from netcx.errors import ConfigError


def test_rotation_schedule_picks_the_key_in_force() -> None:
    settings = load_settings(
        pseudonyms={
            "keys": {"k1": "a", "k2": "b", "k3": "c"},
            "current": "k1",
            "activations": {
                "k1": "2020-01-01T00:00:00Z",
                "k2": "2024-01-01T00:00:00Z",
                "k3": "2999-01-01T00:00:00Z",
            },
        }
    )
    p = build_pseudonymizer(settings)
    assert p.current_version == "k2"  # k3 is not active yet
    assert p.version_at(32_503_680_000_000) == "k3"


def test_activation_needs_a_time_zone() -> None:
    with pytest.raises(ConfigError, match="activations"):
        load_settings(pseudonyms={"activations": {"k1": "2024-01-01T00:00:00"}})


def test_store_is_chosen_by_name(tmp_path: Path) -> None:
    embedded = load_settings(storage={"data_dir": tmp_path})
    svc = build_identity_stores(embedded)[0]
    assert isinstance(svc, SqliteIdentityStore)
    assert (tmp_path / "identity" / "graph.sqlite").exists()
    memory = load_settings(identity={"store": "memory"})
    assert isinstance(build_identity_stores(memory)[0], MemoryIdentityStore)
    with pytest.raises(ConfigError, match=r"identity\.store"):
        load_settings(identity={"store": "cassandra"})
