"""A fixture line source: bindings, MSISDNs and consents from a file, for tests and demos.

Implements `Resolver`, `LineDirectory` and `NumberVerificationConsent` in memory, so a real
`netcx serve` process can answer the CAMARA API before (or without) the network resolver
and the consent ledger. Selected with `camara.fixture_file`; never the production source.

File (YAML or JSON)::

    lines:
      - line_id: ln1_0a1b…            # pseudonymous id, as the resolver answers it
        msisdn: "491700000042"         # as stored by the operator (E.164 digits)
        consent: [number-verification] # purposes the subject consented to
    bindings:
      - ip: 203.0.113.10               # public source address of the device
        ports: [27300, 27363]          # inclusive source-port range; omit = any port
        line_id: ln1_0a1b…
        from_ms: 0                     # optional validity window [from_ms, to_ms)
        to_ms: 9999999999999
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from pathlib import Path

import msgspec
import yaml

from netcx.domain.resolution import Evidence, Level, Resolution
from netcx.errors import ConfigError

_FOREVER_MS = 2**62


class FixtureLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    line_id: str
    msisdn: str | None = None
    consent: tuple[str, ...] = ()


class FixtureBinding(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    ip: str
    line_id: str
    ports: tuple[int, int] | None = None
    from_ms: int = 0
    to_ms: int = _FOREVER_MS


class FixtureFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    lines: tuple[FixtureLine, ...] = ()
    bindings: tuple[FixtureBinding, ...] = ()


class FixtureLines:
    """Resolver + line directory + consent over fixed in-memory data."""

    def __init__(self, lines: Iterable[FixtureLine], bindings: Iterable[FixtureBinding]) -> None:
        self._lines = {line.line_id: line for line in lines}
        self._bindings: dict[str, list[tuple[int, FixtureBinding]]] = {}
        for index, b in enumerate(bindings):
            if b.line_id not in self._lines:
                raise ConfigError(f"bindings[{index}]: line_id {b.line_id!r} is not in lines")
            try:
                ip = ipaddress.ip_address(b.ip).compressed
            except ValueError as err:
                raise ConfigError(f"bindings[{index}].ip: {err}") from err
            self._bindings.setdefault(ip, []).append((index, b))

    @classmethod
    def from_file(cls, path: Path) -> FixtureLines:
        """Load a fixture file; ConfigError naming the file and entry when it is invalid."""
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            data = msgspec.convert(raw, FixtureFile)
        except OSError as err:
            raise ConfigError(f"camara.fixture_file={path}: {err}") from err
        except (yaml.YAMLError, msgspec.ValidationError) as err:
            raise ConfigError(f"camara.fixture_file={path}: {err}") from err
        try:
            return cls(data.lines, data.bindings)
        except ConfigError as err:
            raise ConfigError(f"camara.fixture_file={path}: {err}") from err

    def resolve(self, ip: str, port: int | None, at_ms: int) -> Resolution:
        try:
            key = ipaddress.ip_address(ip).compressed
        except ValueError:
            return Resolution.unknown("not_an_ip_address")
        candidates = [
            (i, b) for i, b in self._bindings.get(key, []) if b.from_ms <= at_ms < b.to_ms
        ]
        if not candidates:
            return Resolution.unknown("no_binding")
        for index, b in candidates:
            if b.ports is None or (port is not None and b.ports[0] <= port <= b.ports[1]):
                evidence = Evidence(
                    kind="fixture_binding",
                    ref=f"bindings[{index}]",
                    start_ms=b.from_ms,
                    end_ms=b.to_ms if b.to_ms != _FOREVER_MS else None,
                )
                return Resolution(
                    level=Level.LINE,
                    reason="fixture_binding",
                    confidence=1.0,
                    line_id=b.line_id,
                    evidence=(evidence,),
                )
        return Resolution.unknown("port_required" if port is None else "no_port_block")

    def msisdn_of(self, line_id: str) -> str | None:
        line = self._lines.get(line_id)
        return None if line is None else line.msisdn

    def allows(self, line_id: str, purpose: str, at_ms: int) -> bool:
        line = self._lines.get(line_id)
        return line is not None and purpose in line.consent
