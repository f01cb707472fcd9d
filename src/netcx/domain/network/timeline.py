"""Validity intervals of one binding key, and the ε rule that picks the holder at time T.

Bindings of one key (an address in a routing context, or a port block on an outside
address) never overlap once built: a later holder closes the earlier one at its start
(network-logs.md §1.7, §3.4). Given that, the bindings near T (intersecting [T−ε, T+ε])
are found from A = the last binding starting at or before T+ε and P = the one before it.
The batch resolver runs the same rule in SQL (ASOF JOIN for A, LAG for P).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Generic, TypeVar

from netcx.domain.resolution import Evidence

K = TypeVar("K")

OPEN_END_MS = 1 << 62
"""End of a binding with no known end (an open port block)."""

CONTAINED = "contained"
SKEW = "skew"  # T lies outside the interval but within ε of it
TAIL = "inferred_tail"  # T after the last proof of life, before the inferred end


@dataclass(slots=True)
class Binding:
    """One holder of a key during [start_ms, end_ms)."""

    start_ms: int
    end_ms: int
    confirmed_ms: int  # last proof of life (= end for an explicit end)
    inferred_end: bool  # end_ms is an inference (lost Stop), not a logged event
    holder: str  # line id for leases; "vrf|inside-ip" for port blocks
    kind: str  # Evidence.kind: radius_session | port_block | ipv6_prefix
    ref: str  # session key / block record ref
    source: str  # NAS / NAT instance
    detail: str = ""

    def evidence(self) -> Evidence:
        end = None if self.end_ms >= OPEN_END_MS else self.end_ms
        return Evidence(self.kind, self.ref, self.source, self.start_ms, end, self.detail)


@dataclass(slots=True, frozen=True)
class Choice:
    binding: Binding
    quality: str  # contained | skew | inferred_tail


NONE = "none"
BOUNDARY = "boundary"


def choose(bindings: list[Binding], starts: list[int], at_ms: int, eps_ms: int) -> Choice | str:
    """The binding holding the key at `at_ms` ± `eps_ms`, or NONE / BOUNDARY."""
    i = bisect_right(starts, at_ms + eps_ms) - 1
    if i < 0:
        return NONE
    a = bindings[i]
    if a.end_ms <= at_ms - eps_ms:
        return NONE
    chosen = a
    if i > 0:
        p = bindings[i - 1]
        if p.end_ms > at_ms - eps_ms:
            if p.holder != a.holder:
                return BOUNDARY
            if a.start_ms > at_ms:
                chosen = p
    return Choice(chosen, quality_at(chosen, at_ms))


def quality_at(b: Binding, at_ms: int) -> str:
    if not b.start_ms <= at_ms < b.end_ms:
        return SKEW
    if b.inferred_end and at_ms > b.confirmed_ms:
        return TAIL
    return CONTAINED


CONFIDENCE = {CONTAINED: 0.99, SKEW: 0.9, TAIL: 0.8}


class Timeline:
    """Bindings of one key sorted by start (strictly increasing, non-overlapping)."""

    __slots__ = ("bindings", "starts")

    def __init__(self, bindings: list[Binding]) -> None:
        self.bindings = bindings
        self.starts = [b.start_ms for b in bindings]

    def choose(self, at_ms: int, eps_ms: int) -> Choice | str:
        return choose(self.bindings, self.starts, at_ms, eps_ms)


def close_overlaps(items: list[Binding]) -> list[Binding]:
    """Sort by start and end each binding no later than the next one's start (implicit
    close: a later holder proves the earlier one gone); drop bindings left empty."""
    items.sort(key=lambda b: (b.start_ms, b.ref))
    out: list[Binding] = []
    for idx, b in enumerate(items):
        if idx + 1 < len(items):
            nxt = items[idx + 1].start_ms
            if b.end_ms > nxt:
                b.end_ms = nxt
                b.confirmed_ms = min(b.confirmed_ms, nxt)
        if b.end_ms > b.start_ms:
            out.append(b)
    return out


class TimelineBook(Generic[K]):
    """Timelines per key, rebuilt lazily from `bindings_of` for the keys marked dirty."""

    def __init__(self) -> None:
        self._timelines: dict[K, Timeline] = {}
        self._dirty: set[K] = set()

    def bindings_of(self, key: K) -> list[Binding]:
        raise NotImplementedError

    def timeline(self, key: K) -> Timeline | None:
        if key in self._dirty:
            self._refresh()
        return self._timelines.get(key)

    def refresh(self) -> None:
        """Rebuild the timelines of the keys changed since (lookups do it lazily anyway)."""
        self._refresh()

    def _refresh(self) -> None:
        for key in self._dirty:
            bindings = self.bindings_of(key)
            if bindings:
                self._timelines[key] = Timeline(bindings)
            else:
                self._timelines.pop(key, None)
        self._dirty.clear()
