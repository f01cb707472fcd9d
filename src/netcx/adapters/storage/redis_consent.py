"""ConsentLedger on Redis/Valkey: every instance reads the same ledger, so a revocation
recorded through one instance is in force on all of them at their next check.

Layout: one list per subject (`netcx:{c:<subject>}:consent`, msgpack decisions in recording
order) and a set of subjects (`netcx:{consent}:subjects`) that retention purges walk.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis import Redis, WatchError

from netcx.adapters.storage._redis import PerSubjectStore, unavailable_when_down
from netcx.domain.consent import ConsentDecision, kept_after_purge


class RedisConsentLedger(PerSubjectStore[ConsentDecision]):
    def __init__(self, client: Redis, prefix: str = "netcx") -> None:
        super().__init__(client, prefix, "consent", "c", ConsentDecision)

    @unavailable_when_down
    def append(self, decision: ConsentDecision) -> None:
        pipe = self._r.pipeline(transaction=False)
        pipe.rpush(self._key(decision.subject), self._encode(decision))
        pipe.sadd(self._subjects, decision.subject)
        pipe.execute()

    @unavailable_when_down
    def history(self, subject: str) -> list[ConsentDecision]:
        return [self._decode(b) for b in self._r.lrange(self._key(subject), 0, -1)]

    @unavailable_when_down
    def histories(self, subjects: Sequence[str]) -> dict[str, list[ConsentDecision]]:
        pipe = self._r.pipeline(transaction=False)
        for s in subjects:
            pipe.lrange(self._key(s), 0, -1)
        return {
            s: [self._decode(b) for b in blobs]
            for s, blobs in zip(subjects, pipe.execute(), strict=True)
        }

    @unavailable_when_down
    def erase_subject(self, subject: str) -> int:
        return self._erase(subject, "llen")

    @unavailable_when_down
    def purge(self, before_ms: int) -> int:
        removed = 0
        for subject in self._all_subjects():
            removed += self._purge_subject(subject, before_ms)
        return removed

    def _purge_subject(self, subject: str, before_ms: int) -> int:
        name = self._key(subject)
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
