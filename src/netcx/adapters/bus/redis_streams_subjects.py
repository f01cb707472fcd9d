"""Export and erasure of a subject's copies on the Redis Streams bus (a SubjectData).

Forwarded events stay in the partition streams after every group consumed them; erasure
must reach them too. Each stream is scanned (XRANGE, in pages) and the subject's entries are
deleted with XDEL. Redis frees an entry's memory when its whole listpack node is empty; until
then the deleted entry is unreachable by any command. (A Kafka-protocol topic cannot delete
single records: there the topic's `retention.ms` bounds how long a copy lives.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import msgspec
import redis

from netcx.adapters.bus.redis_streams import stream_names
from netcx.domain.events import StoredEvent
from netcx.domain.privacy import event_owner_test, exported_event
from netcx.domain.pseudonyms import Pseudonymizer
from netcx.errors import Unavailable

_decode = msgspec.msgpack.Decoder(StoredEvent).decode
_PAGE = 1000


class RedisStreamsSubjects:
    name = "bus"

    def __init__(
        self, url: str, topic: str, partitions: int, prefix: str, pseudonymizer: Pseudonymizer
    ) -> None:
        self._r: Any = redis.Redis.from_url(url)
        self._streams = stream_names(prefix, topic, partitions)
        self._p = pseudonymizer

    def _of(self, subjects: Sequence[str]) -> Iterator[tuple[str, bytes, StoredEvent]]:
        owned = event_owner_test(subjects, self._p)
        for stream in self._streams:
            start = "-"
            while True:
                page = self._r.xrange(stream, min=start, max="+", count=_PAGE)
                for entry_id, fields in page:
                    stored = _decode(fields[b"v"])
                    if owned(stored):
                        yield stream, entry_id, stored
                if len(page) < _PAGE:
                    break
                start = "(" + page[-1][0].decode()

    def export_subject(self, subjects: Sequence[str]) -> list[dict[str, Any]]:
        try:
            return [exported_event(stored) for _, _, stored in self._of(subjects)]
        except redis.RedisError as err:
            raise Unavailable(f"redis streams: export failed: {err}") from err

    def erase_subject(self, subjects: Sequence[str]) -> int:
        try:
            found: dict[str, list[bytes]] = {}
            for stream, entry_id, _ in self._of(subjects):
                found.setdefault(stream, []).append(entry_id)
            return sum(int(self._r.xdel(stream, *ids)) for stream, ids in found.items())
        except redis.RedisError as err:
            raise Unavailable(f"redis streams: erase failed: {err}") from err

    def close(self) -> None:
        self._r.close()
