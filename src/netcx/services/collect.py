"""Collect use case: store events durably (once each), then ask who sent them."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from netcx.domain.events import Event, Recognition, RecognitionLevel, StoredEvent
from netcx.errors import Unavailable
from netcx.ports import Admission, EventLog, Recognizer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Accepted:
    """Outcome of one collect call: what was new, what was a retry, how new ones were seen
    (`unrecognised`: stored, but the identity graph was unavailable; their level is pending)."""

    stored: int
    duplicates: int
    recognitions: list[Recognition] = field(default_factory=list)
    unrecognised: int = 0


class Collector:
    """Accept events: durable append first (a 2xx promises it), then recognition of the
    new ones, as one batch — or, with an `admission` instead of a recognizer
    (`collect.recognition=follower`), store only, admitted at the pace the recognition
    follower keeps up with. With both, a request of at least `inline_from` events (a
    batch) is recognised here and the rest is left to the follower."""

    def __init__(
        self,
        log: EventLog,
        recognizer: Recognizer | None,
        admission: Admission | None = None,
        inline_from: int = 0,
    ) -> None:
        if recognizer is None and admission is None:
            raise ValueError("a Collector recognises inline or is paced by a follower")
        if recognizer is not None and admission is not None and inline_from < 1:
            raise ValueError("with a follower, inline recognition needs inline_from >= 1")
        self._log = log
        self._recognizer = recognizer
        self._admission = admission
        self._inline_from = inline_from

    async def accept(self, events: Sequence[Event]) -> Accepted:
        recognizer = self._recognizer
        batch_of_follower_mode = False  # recognised here, handed over if that fails
        if self._admission is None:
            flags = await self._log.append(events)
        elif recognizer is not None and len(events) >= self._inline_from:
            flags = await self._log.append(events, inline=True)
            batch_of_follower_mode = True
        else:
            recognizer = None
            await self._admission.admit()
            flags = await self._log.append(events)
        new = [e for e, is_new in zip(events, flags, strict=True) if is_new]
        if recognizer is None:
            return Accepted(len(new), len(events) - len(new))
        recognitions: list[Recognition] = []
        try:
            recognitions = await recognizer.recognise_many(new)
        except Unavailable as err:
            # The events are durable and the client gets its 2xx; a transient identity-store
            # outage must not turn that into an error (the retry would be a duplicate and
            # never be recognised either). Their level stays "pending" — in follower mode,
            # until the follower, to which they are handed over, recognises them.
            log.warning(
                "recognise_unavailable source=%s events=%d error=%s",
                new[0].source.value,
                len(new),
                err,
            )
            if batch_of_follower_mode:
                await self._log.hand_over(new)
        await self._log.record_recognitions(list(zip(new, recognitions, strict=False)))
        return Accepted(
            len(new),
            len(events) - len(new),
            recognitions,
            unrecognised=len(new) - len(recognitions),
        )


@dataclass(frozen=True)
class EventCounts:
    """Stored events counted by source and by recognition level (`pending`: not yet known)."""

    total: int
    by_source: dict[str, int]
    by_level: dict[str, int]


PENDING = "pending"


def count_events(stored: Iterable[StoredEvent]) -> EventCounts:
    by_source: Counter[str] = Counter()
    by_level: Counter[str] = Counter()
    for item in stored:
        by_source[item.event.source.value] += 1
        by_level[item.recognition.level.value if item.recognition else PENDING] += 1
    levels = [lv.value for lv in RecognitionLevel] + [PENDING]
    return EventCounts(
        total=sum(by_source.values()),
        by_source=dict(sorted(by_source.items())),
        by_level={lv: by_level[lv] for lv in levels if by_level[lv]},
    )
