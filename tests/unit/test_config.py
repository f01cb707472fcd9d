"""Settings come from defaults, NETCX_* variables and a YAML file, with clear errors."""

import re
from pathlib import Path

import pytest

from netcx.config import load_settings
from netcx.errors import ConfigError


def test_defaults_run_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NETCX_CONFIG", raising=False)
    assert load_settings().storage.backend == "embedded"


def test_env_overrides_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "netcx.yaml"
    cfg.write_text("http:\n  port: 9001\nresolver:\n  clock_skew_s: 5\n")
    monkeypatch.setenv("NETCX_CONFIG", str(cfg))
    monkeypatch.setenv("NETCX_HTTP__PORT", "9002")
    s = load_settings()
    assert s.http.port == 9002
    assert s.resolver.clock_skew_s == 5


def test_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETCX_HTTP__PORT", "eighty")
    with pytest.raises(ConfigError, match=r"http\.port"):
        load_settings()


def test_missing_config_file_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETCX_CONFIG", "/nonexistent/netcx.yaml")
    with pytest.raises(ConfigError, match=re.escape("/nonexistent/netcx.yaml")):
        load_settings()
