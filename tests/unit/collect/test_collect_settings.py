"""Collector settings: the NETCX_WRITE_KEYS shorthand and the nested form both give keys."""

import pytest

from netcx.config import load_settings


def test_write_keys_shorthand_and_nested_form_combine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETCX_WRITE_KEYS", "k1, k2,,k3")
    monkeypatch.setenv("NETCX_HTTP__WRITE_KEYS", '["k0", "k1"]')
    keys = [k.get_secret_value() for k in load_settings().http.write_keys]
    assert keys == ["k0", "k1", "k2", "k3"]


def test_collect_defaults_are_durable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NETCX_CONFIG", raising=False)
    c = load_settings().collect
    assert (c.event_log, c.fsync) == ("segments", "always")
