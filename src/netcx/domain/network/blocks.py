"""CGNAT port-block events → block timelines per (outside ip, port range) (§2.6, §3.4)."""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from netcx.domain.network.plan import AddressPlan
from netcx.domain.network.records import ALLOC, INTERIM, RELEASE, BlockEvent
from netcx.domain.network.timeline import (
    NONE,
    OPEN_END_MS,
    Binding,
    Choice,
    Timeline,
    TimelineBook,
    close_overlaps,
)

BEFORE_LOG_MS = 0
"""Start of a block whose allocation precedes the first log we have."""

BlockKey = tuple[str, int]
"""(outside ip, first port of the block)."""


def inside_of(holder: str) -> tuple[str, str]:
    """(inside vrf, inside ip) of a block holder string."""
    vrf, _, ip = holder.rpartition("|")
    return vrf, ip


class BlockBase(Protocol):
    """Immutable timelines of many blocks (a compaction), answering like `Timeline.choose`."""

    def __len__(self) -> int: ...

    def choose(self, key: BlockKey, at_ms: int, eps_ms: int) -> Choice | str: ...

    def timelines(self) -> Iterable[tuple[BlockKey, list[Binding]]]:
        """Every key's bindings (sorted by start), for batch export and retention."""
        ...

    def merged(
        self,
        changed: Collection[BlockKey],
        delta: Mapping[BlockKey, Timeline],
        port_hi: Callable[[BlockKey], int],
    ) -> BlockBase:
        """A new base: this one without the `changed` keys, plus the `delta` timelines."""
        ...


@dataclass(frozen=True)
class BlockCompaction:
    """What folding the block delta into a new base needs, taken at one moment: `build`
    reads only these (the old base and the snapshot timelines are never changed), so it
    may run off the lock while the book keeps taking events and answering from the delta."""

    base: BlockBase
    changed: frozenset[BlockKey]
    delta: dict[BlockKey, Timeline]
    spans: dict[str, dict[int, tuple[int, int]]]  # outside ip → port_lo → (port_hi, step)

    def build(self) -> BlockBase:
        """The new base: O(base rows)."""
        return self.base.merged(self.changed, self.delta, self._port_hi)

    def _port_hi(self, key: BlockKey) -> int:
        return self.spans[key[0]][key[1]][0]


class BlockBook(TimelineBook[BlockKey]):
    """Folds port-block events into per-block timelines; idempotent, order-independent.

    With a `base` (a compacted, packed copy of the timelines), `_timelines` holds only the
    keys changed since the last compaction and shadows the base for them; a compaction
    (`start_compaction`, `BlockCompaction.build`, `finish_compaction`; `compact()` does all
    three) folds that delta into a new base. The events stay the truth: a late event for a
    compacted key rebuilds its timeline from all of the key's events, as without a base.

    Lookups read `_view` (base, delta keys, delta timelines), replaced as one object when a
    compaction is swapped in, so a lookup never sees the new base without the delta that
    arrived during the build, nor the old delta without the old base.
    """

    def __init__(self, plan: AddressPlan, base: BlockBase | None = None) -> None:
        super().__init__()
        self.plan = plan
        self._events: dict[BlockKey, dict[tuple[int, str, str], BlockEvent]] = {}
        self._layout: dict[str, tuple[list[int], dict[int, tuple[int, int]]]] = {}
        self.events_applied = 0
        self.base = base
        self._changed: set[BlockKey] = set()  # keys the delta answers for (with a base)
        self._touched: set[BlockKey] | None = None  # changed since a compaction's snapshot
        self._view = (base, self._changed, self._timelines)

    def apply_all(self, events: Iterable[BlockEvent]) -> None:
        for e in events:
            self.apply(e)

    def apply(self, e: BlockEvent) -> None:
        self.events_applied += 1
        key = (e.outside_ip, e.port_lo)
        vrf = e.inside_vrf
        pool = self.plan.pool_of(e.outside_ip)
        if pool is not None and pool.inside_vrf:
            vrf = pool.inside_vrf
        holder = f"{vrf}|{e.inside_ip}"
        self._events.setdefault(key, {})[(e.at_ms, e.event, holder)] = e
        los, his = self._layout.setdefault(e.outside_ip, ([], {}))
        if e.port_lo not in his:
            insort(los, e.port_lo)
        his[e.port_lo] = (e.port_hi, max(1, e.step))
        self._mark_changed(key)

    def _mark_changed(self, key: BlockKey) -> None:
        self._dirty.add(key)
        if self.base is not None:
            self._changed.add(key)
            if self._touched is not None:
                self._touched.add(key)

    def choose(self, key: BlockKey, at_ms: int, eps_ms: int) -> Choice | str:
        """The binding holding block `key` at `at_ms` ± `eps_ms`, or NONE / BOUNDARY."""
        if key in self._dirty:
            self._refresh()
        base, changed, timelines = self._view
        if base is not None and key not in changed:
            return base.choose(key, at_ms, eps_ms)
        tl = timelines.get(key)
        return NONE if tl is None else tl.choose(at_ms, eps_ms)

    @property
    def delta_keys(self) -> int:
        """Keys answered from the mutable timelines rather than the base."""
        return len(self._changed)

    def compact(self) -> None:
        """Fold the timelines changed since the last compaction into a new base, now."""
        compaction = self.start_compaction()
        if compaction is not None:
            self.finish_compaction(compaction, compaction.build())

    def start_compaction(self) -> BlockCompaction | None:
        """Snapshot the delta for a new base (None without a base); O(delta keys). Keys
        changed from now on stay in the delta when the result is swapped in."""
        if self.base is None:
            return None
        self._refresh()
        self._touched = set()
        changed = frozenset(self._changed)
        ips = {ip for ip, _ in changed}
        # (copies made by C loops: this runs under the service's lock)
        return BlockCompaction(
            self.base,
            changed,
            dict(self._timelines),  # (with a base it holds only changed keys)
            {ip: dict(self._layout[ip][1]) for ip in ips},
        )

    def finish_compaction(self, compaction: BlockCompaction, base: BlockBase) -> bool:
        """Swap in `base` (built from `compaction`); the keys changed since its snapshot
        keep answering from the delta, over the new base. O(keys changed since). False, and
        nothing changes, when another compaction replaced the base since the snapshot.

        The delta's other timelines are then referenced by `compaction.delta` alone (a key
        changed after the snapshot is a touched key, kept): the old delta dict, which a
        lookup may still be reading, is never emptied, only dropped."""
        if compaction.base is not self.base or self._touched is None:
            return False
        self._refresh()
        changed = self._touched
        old = self._timelines  # (only the keys changed during the build are looked at)
        timelines = {k: old[k] for k in changed if k in old}
        self._touched = None
        self.base, self._changed, self._timelines = base, changed, timelines
        self._view = (base, changed, timelines)  # the one switch lookups see
        return True

    def _all_timelines(self) -> Iterable[tuple[BlockKey, list[Binding]]]:
        self._refresh()
        if self.base is not None:
            for key, bindings in self.base.timelines():
                if key not in self._changed:
                    yield key, bindings
        for key, tl in self._timelines.items():
            yield key, tl.bindings

    def block_for(self, outside_ip: str, port: int) -> BlockKey | None:
        """The block layout entry containing `port` on `outside_ip` (layouts are assumed
        not to overlap: one port belongs to one block range on an address)."""
        layout = self._layout.get(outside_ip)
        if layout is None:
            return None
        los, his = layout
        i = bisect_right(los, port) - 1
        if i < 0:
            return None
        lo = los[i]
        hi, step = his[lo]
        if port > hi or (port - lo) % step:
            return None
        return (outside_ip, lo)

    def bindings_of(self, key: BlockKey) -> list[Binding]:
        events = sorted(
            self._events.get(key, {}).items(),
            key=lambda kv: (kv[0][0], kv[0][1] != RELEASE, kv[0][2]),
        )
        out: list[Binding] = []
        current: Binding | None = None
        last_end: int | None = None
        for (at_ms, kind, holder), e in events:
            if kind == INTERIM and current is not None and current.holder == holder:
                current.confirmed_ms = at_ms
                continue
            if (
                kind == ALLOC
                or (kind == INTERIM and current is None)
                or (kind == INTERIM and current is not None and current.holder != holder)
            ):
                if current is not None:  # lost release: closed by the next allocation
                    current.end_ms = at_ms
                    current.detail = "release:inferred_next_alloc"
                    out.append(current)
                # A lost allocation (interim first) started after the previous release,
                # or before the log began.
                lost = kind == INTERIM
                start = (last_end or BEFORE_LOG_MS) if lost else at_ms
                current = Binding(
                    start_ms=start,
                    end_ms=OPEN_END_MS,
                    confirmed_ms=at_ms,
                    inferred_end=False,
                    holder=holder,
                    kind="port_block",
                    ref=e.raw_ref or f"{e.nat_instance}:{e.outside_ip}:{e.port_lo}@{at_ms}",
                    source=e.nat_instance,
                    detail="alloc:inferred_interim" if lost else "release:open",
                )
                continue
            # a release
            if current is not None and current.holder == holder:
                current.end_ms = at_ms
                current.detail = (
                    "release:log"
                    if current.detail == "release:open"
                    else ("alloc:inferred_interim+release:log")
                )
                out.append(current)
                current = None
            elif current is None:
                # lost allocation: held since the previous release, or since before the log
                out.append(
                    Binding(
                        start_ms=last_end if last_end is not None else BEFORE_LOG_MS,
                        end_ms=at_ms,
                        confirmed_ms=at_ms,
                        inferred_end=False,
                        holder=holder,
                        kind="port_block",
                        ref=e.raw_ref or f"{e.nat_instance}:{e.outside_ip}:{e.port_lo}@{at_ms}",
                        source=e.nat_instance,
                        detail="alloc:inferred_before_release",
                    )
                )
            last_end = at_ms
        if current is not None:
            out.append(current)
        return close_overlaps(out)

    def all_bindings(self) -> Iterable[tuple[BlockKey, int, int, Binding]]:
        """(key, port_hi, step, binding) of every block (for the batch resolver)."""
        for key, bindings in self._all_timelines():
            hi, step = self._layout[key[0]][1][key[1]]
            for b in bindings:
                yield key, hi, step, b

    def layout(self) -> Iterable[tuple[str, int, int, int]]:
        """(outside ip, port_lo, port_hi, step) of every block range seen."""
        for ip, (los, his) in self._layout.items():
            for lo in los:
                hi, step = his[lo]
                yield ip, lo, hi, step

    def purge_before(self, cutoff_ms: int) -> int:
        """Forget events of blocks released before `cutoff_ms`."""
        dropped = 0
        for key, bindings in list(self._all_timelines()):
            keep_from = next((b.start_ms for b in bindings if b.end_ms >= cutoff_ms), None)
            events = self._events[key]
            old = [ek for ek in events if keep_from is None or ek[0] < keep_from]
            for ek in old:
                del events[ek]
            if old:
                dropped += len(old)
                self._mark_changed(key)
        self.compact()
        self._refresh()
        return dropped
