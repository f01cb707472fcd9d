"""Audit trail of API resolutions: one JSON line per answer (caller, purpose, ids, evidence)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from netcx.domain.resolution import Evidence, Resolution


class ResolveAuditEntry(msgspec.Struct, frozen=True, omit_defaults=True):
    at_ms: int
    caller: str  # API key id (a hash prefix, never the key)
    purpose: str
    level: str
    reason: str
    line_id: str | None = None
    household_id: str | None = None
    evidence: tuple[Evidence, ...] = ()


class FileResolveAudit:
    """Appends to <root>/YYYYMMDD.jsonl (no raw IP: the answer's pseudonyms and evidence)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._enc = msgspec.json.Encoder()

    def record(self, caller: str, purpose: str, resolution: Resolution, at_ms: int) -> None:
        entry = ResolveAuditEntry(
            at_ms=at_ms,
            caller=caller,
            purpose=purpose,
            level=resolution.level.value,
            reason=resolution.reason,
            line_id=resolution.line_id,
            household_id=resolution.household_id,
            evidence=resolution.evidence,
        )
        day = datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y%m%d")
        line = self._enc.encode(entry) + b"\n"
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            with (self.root / f"{day}.jsonl").open("ab") as fh:
                fh.write(line)

    def read_day(self, day: str) -> list[ResolveAuditEntry]:
        path = self.root / f"{day}.jsonl"
        if not path.is_file():
            return []
        dec = msgspec.json.Decoder(ResolveAuditEntry)
        return [dec.decode(x) for x in path.read_bytes().splitlines() if x]
