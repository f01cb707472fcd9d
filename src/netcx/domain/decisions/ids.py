"""Decision ids: time-ordered, unique given a per-process nonce and a sequence number."""

from __future__ import annotations

import hashlib


def decision_id(at_ms: int, nonce: bytes, seq: int) -> str:
    """`dc_<13 hex ms><12 hex>`: sorts by time; the caller supplies nonce and sequence."""
    tail = hashlib.blake2b(nonce + seq.to_bytes(8, "big"), digest_size=6).hexdigest()
    return f"dc_{at_ms:013x}{tail}"
