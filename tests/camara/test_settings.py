"""CamaraSettings and the Number Verification builder: clear errors for incomplete config."""

from pathlib import Path

import pytest

from netcx.adapters.camara.fixture import FixtureBinding, FixtureLine, FixtureLines
from netcx.bootstrap import build_number_verification
from netcx.config import load_settings
from netcx.errors import ConfigError
from tests.camara.authz import AUDIENCE, ISSUER, TestAuthorizationServer


def test_without_an_issuer_the_api_is_off() -> None:
    assert build_number_verification(load_settings()) is None


@pytest.mark.parametrize(
    ("camara", "says"),
    [
        ({"issuer": ISSUER}, "camara.audience is required"),
        ({"issuer": ISSUER, "audience": AUDIENCE}, "exactly one of camara.jwks_url"),
        (
            {"issuer": ISSUER, "audience": AUDIENCE, "jwks_url": "http://x", "jwks_file": "/x"},
            "exactly one of camara.jwks_url",
        ),
    ],
)
def test_incomplete_settings_name_what_is_missing(camara: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        load_settings(camara=camara)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETCX_CAMARA__ISSUER", ISSUER)
    monkeypatch.setenv("NETCX_CAMARA__AUDIENCE", AUDIENCE)
    monkeypatch.setenv("NETCX_CAMARA__JWKS_URL", "http://127.0.0.1:1/jwks")
    monkeypatch.setenv("NETCX_CAMARA__NETWORK_AMR", '["nba"]')
    cfg = load_settings().camara
    assert (cfg.issuer, cfg.audience, cfg.jwks_url, cfg.network_amr) == (
        ISSUER,
        AUDIENCE,
        "http://127.0.0.1:1/jwks",
        ["nba"],
    )


def test_an_issuer_without_a_line_source_is_a_config_error(tmp_path: Path) -> None:
    jwks = TestAuthorizationServer().write_jwks(tmp_path / "jwks.json")
    settings = load_settings(camara={"issuer": ISSUER, "audience": AUDIENCE, "jwks_file": jwks})
    with pytest.raises(ConfigError, match="no resolver, line directory and consent ledger"):
        build_number_verification(settings)


def test_real_ports_can_be_wired_in(tmp_path: Path) -> None:
    jwks = TestAuthorizationServer().write_jwks(tmp_path / "jwks.json")
    settings = load_settings(
        camara={"issuer": ISSUER, "audience": AUDIENCE, "jwks_file": jwks},
        storage={"data_dir": tmp_path},
    )
    lines = FixtureLines([FixtureLine("ln1", "491700000042")], [FixtureBinding("::1", "ln1")])
    service = build_number_verification(settings, resolver=lines, directory=lines, consent=lines)
    assert service is not None
