"""Keyed pseudonyms (HMAC-SHA256) per destination, with a key-rotation schedule."""

from __future__ import annotations

import hashlib
import hmac
import re
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
    EVIDENCE = "ev"  # a network record (lease, port block) named in an audit record


_RECENT = 65536
"""Pseudonyms remembered (about 20 MB at most)."""

INTERNAL = "internal"
"""Destination name for netcx's own stores; every partner/CVM destination gets its own name."""

PSEUDONYM_RE = re.compile(r"^(ln|sb|hh|ac|vi|dv|ev)([0-9A-Za-z]+)_([0-9a-f]{24})$")
"""Shape of a pseudonym: kind prefix, key version, 24 hex digits of the HMAC."""


def kind_of_pseudonym(value: str) -> IdKind | None:
    """The kind a pseudonym stands for, or None when `value` is not shaped like one."""
    m = PSEUDONYM_RE.match(value)
    return IdKind(m.group(1)) if m else None


class Pseudonymizer:
    """Turns raw ids (MSISDN-based line ids, CRM ids) into keyed pseudonyms.

    The key for a destination is derived from the master key, so two destinations cannot
    join their ids. A pseudonym carries the key version (`ln1_…`), so ids made under an
    older key are recognisable after rotation. `activations` (version → epoch ms) is the
    rotation schedule: `version_at(at_ms)` names the key in force at that moment.
    """

    def __init__(
        self,
        keys: Mapping[str, bytes],
        current: str,
        activations: Mapping[str, int] | None = None,
    ) -> None:
        if current not in keys:
            raise ValueError(f"current pseudonym key {current!r} is not among the keys")
        unknown = sorted(set(activations or {}) - set(keys))
        if unknown:
            raise ValueError(f"activation date for unknown pseudonym key(s) {unknown}")
        self._keys = dict(keys)
        self._current = current
        # Newest activation first, so the first one not after `at_ms` is the key in force.
        self._schedule = sorted((activations or {}).items(), key=lambda kv: kv[1], reverse=True)
        self._derived: dict[tuple[str, str], bytes] = {}
        # Recent answers, keyed by everything the HMAC depends on (the key version too, so
        # a rotation never returns an old key's pseudonym): ids repeat (a visitor's every
        # event), an HMAC costs ~2 us.
        self._recent: dict[tuple[str, str, str, str], str] = {}

    @property
    def current_version(self) -> str:
        return self._current

    @property
    def versions(self) -> tuple[str, ...]:
        """Every key version held (old ones stay, so erasure can find ids made under them)."""
        return tuple(self._keys)

    def version_at(self, at_ms: int) -> str:
        """The key version in force at `at_ms` per the schedule (`current` without one)."""
        for version, activates_ms in self._schedule:
            if activates_ms <= at_ms:
                return version
        if self._schedule:
            raise ValueError(f"no pseudonym key is active at {at_ms} ms (before every activation)")
        return self._current

    def _key(self, version: str, destination: str) -> bytes:
        cached = self._derived.get((version, destination))
        if cached is None:
            master = self._keys[version]
            cached = hmac.new(master, b"destination:" + destination.encode(), "sha256").digest()
            self._derived[(version, destination)] = cached
        return cached

    def pseudonym(
        self,
        kind: IdKind,
        raw_id: str,
        destination: str = INTERNAL,
        version: str | None = None,
        at_ms: int | None = None,
    ) -> str:
        """Stable pseudonym of `raw_id` for `destination` under key `version`, else the key
        in force at `at_ms`, else the current key."""
        if version is None:
            version = self._current if at_ms is None else self.version_at(at_ms)
        memo = (kind, raw_id, destination, version)
        found = self._recent.get(memo)
        if found is not None:
            return found
        digest = hmac.new(
            self._key(version, destination), f"{kind.value}:{raw_id}".encode(), hashlib.sha256
        ).hexdigest()
        found = f"{kind.value}{version.lstrip('k')}_{digest[:24]}"
        if len(self._recent) >= _RECENT:
            self._recent.clear()  # cheaper than LRU bookkeeping on every hit
        self._recent[memo] = found
        return found

    def every_version(self, kind: IdKind, raw_id: str, destination: str = INTERNAL) -> list[str]:
        """The pseudonyms of `raw_id` under every key held, current first."""
        order = [self._current, *(v for v in self._keys if v != self._current)]
        return [self.pseudonym(kind, raw_id, destination, version=v) for v in order]

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
