"""IntentStateStore on Redis/Valkey: one key per subject, optimistic (WATCH) updates."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, cast

import redis

from netcx.adapters.storage.intent_state_codec import decode_state, encode_state
from netcx.domain.intents.scoring import SubjectState
from netcx.domain.privacy import export_intent_states, without_evidence_of
from netcx.errors import Unavailable

_MAX_RETRIES = 50


class RedisIntentStateStore:
    """Several workers share states; a state untouched for `ttl_s` expires."""

    name = "intent_state"

    def __init__(self, url: str, ttl_s: int, prefix: str = "netcx:intent:") -> None:
        self._redis = redis.Redis.from_url(url)
        self._ttl_s = ttl_s
        self._prefix = prefix

    def _key(self, subject_id: str) -> str:
        return self._prefix + subject_id

    def get_many(self, subject_ids: Sequence[str]) -> dict[str, SubjectState]:
        if not subject_ids:
            return {}
        try:
            blobs = cast(list[bytes | None], self._redis.mget([self._key(s) for s in subject_ids]))
        except redis.RedisError as err:
            raise Unavailable(f"intent state store (redis): {err}") from err
        return {s: decode_state(b) for s, b in zip(subject_ids, blobs, strict=True) if b}

    def update(
        self, subject_id: str, change: Callable[[SubjectState | None], SubjectState]
    ) -> SubjectState:
        return self.update_many({subject_id: change})[subject_id]

    def update_many(
        self, changes: Mapping[str, Callable[[SubjectState | None], SubjectState]]
    ) -> dict[str, SubjectState]:
        """One optimistic transaction over every key (WATCH all, MGET, MULTI/SET/EXEC): a
        concurrent write to any of them reruns the whole group."""
        if not changes:
            return {}
        subjects = list(changes)
        keys = [self._key(s) for s in subjects]
        try:
            with self._redis.pipeline() as pipe:
                for _ in range(_MAX_RETRIES):
                    try:
                        pipe.watch(*keys)  # type: ignore[no-untyped-call]
                        blobs = cast(list[bytes | None], pipe.mget(keys))
                        new = {
                            s: changes[s](decode_state(b) if b else None)
                            for s, b in zip(subjects, blobs, strict=True)
                        }
                        pipe.multi()
                        for s, key in zip(subjects, keys, strict=True):
                            pipe.set(key, encode_state(new[s]), ex=self._ttl_s)
                        pipe.execute()
                        return new
                    except redis.WatchError:
                        continue
        except redis.RedisError as err:
            raise Unavailable(f"intent state store (redis): {err}") from err
        raise Unavailable(f"intent states of {len(subjects)} subjects: too much contention")

    def delete(self, subject_id: str) -> bool:
        try:
            return bool(self._redis.delete(self._key(subject_id)))
        except redis.RedisError as err:
            raise Unavailable(f"intent state store (redis): {err}") from err

    def _all(self) -> Iterator[tuple[str, SubjectState]]:
        """Every stored state (SCAN: erasure and export are rare; evidence may sit under any
        line or household)."""
        n = len(self._prefix)
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self._prefix) + "*"  # glob-escaped
        for key in self._redis.scan_iter(match=pattern, count=1000):
            blob = cast(bytes | None, self._redis.get(key))
            if blob:
                yield key.decode()[n:], decode_state(blob)

    def export_subject(self, subjects: Sequence[str]) -> list[dict[str, Any]]:
        try:
            return export_intent_states(self._all(), set(subjects))
        except redis.RedisError as err:
            raise Unavailable(f"intent state store (redis): {err}") from err

    def erase_subject(self, subjects: Sequence[str]) -> int:
        wanted = set(subjects)

        def strip(current: SubjectState | None) -> SubjectState:
            if current is None:  # expired since the scan: an empty state, expiring again
                return SubjectState()
            return without_evidence_of(current, wanted) or current

        try:
            erased = sum(self.delete(s) for s in wanted)
            for sid, state in list(self._all()):
                if without_evidence_of(state, wanted) is not None:
                    # Through `update`: a concurrent worker's change is kept, the evidence not.
                    self.update(sid, strip)
                    erased += 1
            return erased
        except redis.RedisError as err:
            raise Unavailable(f"intent state store (redis): {err}") from err

    def close(self) -> None:
        self._redis.close()
