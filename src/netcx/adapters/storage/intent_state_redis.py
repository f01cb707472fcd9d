"""IntentStateStore on Redis/Valkey: one key per subject, optimistic (WATCH) updates."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import redis

from netcx.adapters.storage.intent_state_codec import decode_state, encode_state
from netcx.domain.intents.scoring import SubjectState
from netcx.errors import Unavailable

_MAX_RETRIES = 50


class RedisIntentStateStore:
    """Several workers share states; a state untouched for `ttl_s` expires."""

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
        key = self._key(subject_id)
        try:
            with self._redis.pipeline() as pipe:
                for _ in range(_MAX_RETRIES):
                    try:
                        pipe.watch(key)  # type: ignore[no-untyped-call]
                        blob = cast(bytes | None, pipe.get(key))
                        new = change(decode_state(blob) if blob else None)
                        pipe.multi()
                        pipe.set(key, encode_state(new), ex=self._ttl_s)
                        pipe.execute()
                        return new
                    except redis.WatchError:
                        continue
        except redis.RedisError as err:
            raise Unavailable(f"intent state store (redis): {err}") from err
        raise Unavailable(f"intent state of {subject_id}: too much contention, gave up")

    def delete(self, subject_id: str) -> bool:
        try:
            return bool(self._redis.delete(self._key(subject_id)))
        except redis.RedisError as err:
            raise Unavailable(f"intent state store (redis): {err}") from err

    def close(self) -> None:
        self._redis.close()
