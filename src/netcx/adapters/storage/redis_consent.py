"""ConsentLedger on Redis/Valkey: every instance reads the same ledger, so a revocation
recorded through one instance is in force on all of them at their next check.

Layout: one list per subject (`netcx:{c:<subject>}:consent`, msgpack decisions in recording
order) and a set of subjects (`netcx:{consent}:subjects`) that retention purges walk.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from redis import Redis, WatchError

from netcx.adapters.storage._redis import key, unavailable_when_down
from netcx.domain.consent import ConsentDecision, kept_after_purge


class RedisConsentLedger:
    def __init__(self, client: Redis, prefix: str = "netcx") -> None:
        # redis-py types replies as unions over decode modes; this client returns bytes.
        self._r: Any = client
        self._prefix = prefix
        self._subjects = key(prefix, "consent", "subjects")
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(ConsentDecision).decode

    def _list(self, subject: str) -> str:
        return key(self._prefix, f"c:{subject}", "consent")

    @unavailable_when_down
    def append(self, decision: ConsentDecision) -> None:
        pipe = self._r.pipeline(transaction=False)
        pipe.rpush(self._list(decision.subject), self._encode(decision))
        pipe.sadd(self._subjects, decision.subject)
        pipe.execute()

    @unavailable_when_down
    def history(self, subject: str) -> list[ConsentDecision]:
        return [self._decode(b) for b in self._r.lrange(self._list(subject), 0, -1)]

    @unavailable_when_down
    def histories(self, subjects: Sequence[str]) -> dict[str, list[ConsentDecision]]:
        pipe = self._r.pipeline(transaction=False)
        for s in subjects:
            pipe.lrange(self._list(s), 0, -1)
        return {
            s: [self._decode(b) for b in blobs]
            for s, blobs in zip(subjects, pipe.execute(), strict=True)
        }

    @unavailable_when_down
    def erase_subject(self, subject: str) -> int:
        pipe = self._r.pipeline(transaction=False)
        pipe.llen(self._list(subject))
        pipe.delete(self._list(subject))
        pipe.srem(self._subjects, subject)
        n, _, _ = pipe.execute()
        return int(n)

    @unavailable_when_down
    def purge(self, before_ms: int) -> int:
        removed = 0
        for raw in self._r.sscan_iter(self._subjects, count=500):
            removed += self._purge_subject(raw.decode(), before_ms)
        return removed

    def _purge_subject(self, subject: str, before_ms: int) -> int:
        name = self._list(subject)
        while True:
            with self._r.pipeline(transaction=True) as pipe:
                try:
                    # WATCH: a decision appended meanwhile must not be lost by the rewrite.
                    pipe.watch(name)
                    blobs = pipe.lrange(name, 0, -1)
                    history = [self._decode(b) for b in blobs]
                    kept = kept_after_purge(history, before_ms)
                    if len(kept) == len(history):
                        return 0
                    pipe.multi()
                    pipe.delete(name)
                    if kept:
                        pipe.rpush(name, *(self._encode(d) for d in kept))
                    pipe.execute()
                    return len(history) - len(kept)
                except WatchError:
                    continue
