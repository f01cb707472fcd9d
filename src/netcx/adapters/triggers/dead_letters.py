"""Dead-letter store as a folder: one JSON payload file per trigger, plus its last error."""

from __future__ import annotations

from pathlib import Path


class FolderDeadLetterStore:
    """`<dir>/<at_ms>_<trigger_id>.json` (the payload as sent) and `.error` beside it."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._dir.mkdir(parents=True, exist_ok=True)

    def put(self, body: bytes, trigger_id: str, error: str, at_ms: int) -> None:
        stem = f"{at_ms:013d}_{trigger_id}"
        (self._dir / f"{stem}.error").write_text(error + "\n", encoding="utf-8")
        tmp = self._dir / f".{stem}.json.tmp"
        tmp.write_bytes(body)
        tmp.replace(self._dir / f"{stem}.json")  # readers never see half a payload

    def list(self) -> list[tuple[str, bytes]]:
        return [(p.stem.split("_", 1)[1], p.read_bytes()) for p in sorted(self._dir.glob("*.json"))]

    def remove(self, trigger_id: str) -> None:
        for p in self._dir.glob(f"*_{trigger_id}.*"):
            p.unlink(missing_ok=True)

    def error(self, trigger_id: str) -> str:
        found = sorted(self._dir.glob(f"*_{trigger_id}.error"))
        return found[0].read_text(encoding="utf-8").strip() if found else ""
