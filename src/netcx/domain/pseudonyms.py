"""Keyed pseudonyms (HMAC-SHA256) per destination, with key versions for rotation."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from enum import StrEnum


class IdKind(StrEnum):
    """Kinds of identifiers; the prefix of a pseudonym says which kind it stands for."""

    LINE = "ln"
    SUBSCRIBER = "sb"
    HOUSEHOLD = "hh"
    ACCOUNT = "ac"
    VISITOR = "vi"
    DEVICE = "dv"


INTERNAL = "internal"
"""Destination name for netcx's own stores; every partner/CVM destination gets its own name."""


class Pseudonymizer:
    """Turns raw ids (MSISDN-based line ids, CRM ids) into keyed pseudonyms.

    The key for a destination is derived from the master key, so two destinations cannot
    join their ids. A pseudonym carries the key version (`ln1_…`), so ids made under an
    older key are recognisable after rotation.
    """

    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        if current not in keys:
            raise ValueError(f"current pseudonym key {current!r} is not among the keys")
        self._keys = dict(keys)
        self._current = current
        self._derived: dict[tuple[str, str], bytes] = {}

    @property
    def current_version(self) -> str:
        return self._current

    def _key(self, version: str, destination: str) -> bytes:
        cached = self._derived.get((version, destination))
        if cached is None:
            master = self._keys[version]
            cached = hmac.new(master, b"destination:" + destination.encode(), "sha256").digest()
            self._derived[(version, destination)] = cached
        return cached

    def pseudonym(
        self, kind: IdKind, raw_id: str, destination: str = INTERNAL, version: str | None = None
    ) -> str:
        """Stable pseudonym of `raw_id` for `destination` under key `version` (default current)."""
        ver = version or self._current
        digest = hmac.new(
            self._key(ver, destination), f"{kind.value}:{raw_id}".encode(), hashlib.sha256
        ).hexdigest()
        return f"{kind.value}{ver.lstrip('k')}_{digest[:24]}"

    def many(self, kind: IdKind, raw_ids: list[str], destination: str = INTERNAL) -> list[str]:
        """Pseudonyms for a column of ids (each distinct id hashed once)."""
        memo: dict[str, str] = {}
        out = []
        for raw in raw_ids:
            p = memo.get(raw)
            if p is None:
                p = memo[raw] = self.pseudonym(kind, raw, destination)
            out.append(p)
        return out
