"""A Resolver over a fixed JSON list of bindings, set by `identity.static_bindings`: it
replaces the network resolver for integration tests and demos.

File: `[{"ip": "198.18.0.7", "port_lo": 1024, "port_hi": 2047, "level": "line",
"confidence": 0.97, "line_id": "L1", "subscriber_id": "S1", "household_id": "H1",
"account_id": "A1", "start_ms": 0, "end_ms": null}]` with raw CRM ids (pseudonymised here,
like the real resolver does); ports and times are optional.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.domain.resolution import Evidence, Level, Resolution
from netcx.errors import ConfigError


class StaticBinding(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    ip: str
    level: Level
    port_lo: int | None = None
    port_hi: int | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    confidence: float = 1.0
    line_id: str | None = None
    subscriber_id: str | None = None
    household_id: str | None = None
    account_id: str | None = None

    def holds(self, port: int | None, at_ms: int) -> bool:
        if self.port_lo is not None:
            port_hi = self.port_lo if self.port_hi is None else self.port_hi
            if port is None or not self.port_lo <= port <= port_hi:
                return False
        if self.start_ms is not None and at_ms < self.start_ms:
            return False
        return self.end_ms is None or at_ms < self.end_ms


class StaticBindingResolver:
    def __init__(self, path: Path, pseudonymizer: Pseudonymizer) -> None:
        try:
            bindings = msgspec.json.decode(path.read_bytes(), type=list[StaticBinding])
        except (OSError, msgspec.DecodeError, msgspec.ValidationError) as err:
            raise ConfigError(f"identity.static_bindings={path}: {err}") from err
        self._by_ip: dict[str, list[tuple[int, StaticBinding]]] = {}
        for n, b in enumerate(bindings):
            self._by_ip.setdefault(b.ip, []).append((n, b))
        self._p = pseudonymizer

    def _id(self, kind: IdKind, raw: str | None) -> str | None:
        return None if raw is None else self._p.pseudonym(kind, raw)

    def resolve(self, ip: str, port: int | None, at_ms: int) -> Resolution:
        for n, b in self._by_ip.get(ip, ()):
            if b.holds(port, at_ms):
                return Resolution(
                    level=b.level,
                    reason="static_binding",
                    confidence=b.confidence,
                    line_id=self._id(IdKind.LINE, b.line_id),
                    subscriber_id=self._id(IdKind.SUBSCRIBER, b.subscriber_id),
                    household_id=self._id(IdKind.HOUSEHOLD, b.household_id),
                    account_id=self._id(IdKind.ACCOUNT, b.account_id),
                    evidence=(Evidence(kind="static_binding", ref=str(n), source="config"),),
                )
        return Resolution.unknown("not_ours")
