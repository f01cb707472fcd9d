"""Audit logs for CAMARA uses of a resolution: in memory and append-only JSON lines."""

from __future__ import annotations

import threading
from pathlib import Path

import msgspec

from netcx.domain.camara import AuditRecord


class MemoryAuditLog:
    """Keeps records in a list (tests, embedded demos)."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def record(self, entry: AuditRecord) -> None:
        self.records.append(entry)

    def read(self) -> list[AuditRecord]:
        return list(self.records)


class JsonlAuditLog:
    """Appends one JSON object per record to a file, flushed per record."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._encoder = msgspec.json.Encoder()

    def record(self, entry: AuditRecord) -> None:
        line = self._encoder.encode(entry) + b"\n"
        with self._lock, self.path.open("ab") as f:
            f.write(line)

    def read(self) -> list[AuditRecord]:
        """Every record so far (for export and tests)."""
        if not self.path.exists():
            return []
        decoder = msgspec.json.Decoder(AuditRecord)
        return [decoder.decode(line) for line in self.path.read_bytes().splitlines() if line]
