"""The packed block index answers like the block timelines (scalar and vectorised)."""

from __future__ import annotations

import ipaddress

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from netcx.adapters.storage.bindings_packed import (
    BOUNDARY,
    NONE,
    PackedBlockBase,
    PackedBlockIndex,
)
from netcx.domain.network.blocks import BlockBook
from netcx.domain.network.plan import AddressPlan
from netcx.domain.network.records import BlockEvent
from netcx.domain.network.timeline import NONE as NO_BINDING
from netcx.domain.network.timeline import OPEN_END_MS, Binding, Choice

from .builders import T0, block

IPS = ["203.0.113.5", "203.0.113.6", "203.0.113.7", "198.51.100.9"]
# 203.0.113.7 has a non-uniform layout (a 64-port block, then a 128-port one);
# 198.51.100.9 is too far from the others for a direct address table
SIZES = {("203.0.113.7", 1152): 64}


@settings(max_examples=150, deadline=None)
@given(
    events=st.lists(
        st.tuples(
            st.sampled_from(["alloc", "alloc", "release"]),
            st.integers(0, 60),
            st.sampled_from(["100.64.0.1", "100.64.0.2", "100.64.0.3"]),
            st.sampled_from(IPS),
            st.sampled_from([1024, 1152]),
        ),
        max_size=14,
    ),
    queries=st.lists(
        st.tuples(
            st.sampled_from(IPS),
            st.sampled_from([1000, 1024, 1100, 1200, 1215, 1216, 1300]),
            st.integers(-4, 130),
        ),
        min_size=1,
        max_size=30,
    ),
    eps_ms=st.sampled_from([0, 500, 2000]),
)
# the only address has an irregular layout and the port is below its first block (the
# vectorised lookup used to answer that block)
@example(
    events=[
        ("alloc", 0, "100.64.0.1", "203.0.113.7", 1024),
        ("alloc", 0, "100.64.0.1", "203.0.113.7", 1152),
    ],
    queries=[("203.0.113.7", 1000, 0)],
    eps_ms=0,
)
def test_packed_equals_timelines(
    events: list[tuple[str, int, str, str, int]],
    queries: list[tuple[str, int, int]],
    eps_ms: int,
) -> None:
    book = BlockBook(AddressPlan.from_json({"pools": []}))
    book.apply_all(
        block(e, T0 + k * 1000, ins, out, lo, SIZES.get((out, lo), 128))
        for e, k, ins, out, lo in events
    )
    rows = list(book.all_bindings())
    holders = sorted({b.holder for *_, b in rows})
    idx = PackedBlockIndex(
        np.array([int(ipaddress.IPv4Address(k[0])) for k, *_ in rows], np.uint32),
        np.array([k[1] for k, *_ in rows], np.int32),
        np.array([hi for _, hi, _, _ in rows], np.int32),
        np.array([b.start_ms for *_, b in rows], np.int64),
        np.array([min(b.end_ms, OPEN_END_MS) for *_, b in rows], np.int64),
        np.array([holders.index(b.holder) for *_, b in rows], np.uint32),
        eps_ms,
    )
    # the same blocks handed over already in key order take the no-sort path
    cols = [
        np.array([int(ipaddress.IPv4Address(k[0])) for k, *_ in rows], np.uint32),
        np.array([k[1] for k, *_ in rows], np.int32),
        np.array([hi for _, hi, _, _ in rows], np.int32),
        np.array([b.start_ms for *_, b in rows], np.int64),
        np.array([min(b.end_ms, OPEN_END_MS) for *_, b in rows], np.int64),
        np.array([holders.index(b.holder) for *_, b in rows], np.uint32),
    ]
    order = np.lexsort(
        (cols[3], (cols[0].astype(np.uint64) << np.uint64(16)) | cols[1].astype(np.uint64))
    )
    presorted = PackedBlockIndex(*(c[order] for c in cols), eps_ms)
    assert presorted.nbytes() > 0  # (sizing first builds the scalar tables: lookups still work)
    ips = np.array([int(ipaddress.IPv4Address(q[0])) for q in queries], np.uint32)
    ports = np.array([q[1] for q in queries], np.int32)
    ts = np.array([T0 + q[2] * 500 for q in queries], np.int64)
    many = idx.lookup_many(ips, ports, ts)
    assert (presorted.lookup_many(ips, ports, ts) == many).all()
    for n, (ip, port, _) in enumerate(queries):
        t = int(ts[n])
        key = book.block_for(ip, port)
        tl = book.timeline(key) if key else None
        want = tl.choose(t, eps_ms) if tl else "none"
        got = idx.lookup(int(ips[n]), port, t)
        assert got == many[n]
        if isinstance(want, Choice):
            assert got >= 0 and idx.start_of(got) == want.binding.start_ms
            assert holders[int(idx.holder[got])] == want.binding.holder
        else:
            assert got == (BOUNDARY if want == "boundary" else NONE)


def _events(raw: list[tuple[str, int, str, str, int]]) -> list[BlockEvent]:
    return [
        block(e, T0 + k * 1000, ins, out, lo, SIZES.get((out, lo), 128))
        for e, k, ins, out, lo in raw
    ]


EVENT = st.tuples(
    st.sampled_from(["alloc", "alloc", "release", "interim"]),
    st.integers(0, 60),
    st.sampled_from(["100.64.0.1", "100.64.0.2", "100.64.0.3"]),
    st.sampled_from(IPS),
    st.sampled_from([1024, 1152]),
)


@settings(max_examples=200, deadline=None)
@given(
    parts=st.lists(st.lists(EVENT, max_size=8), min_size=1, max_size=4),
    queries=st.lists(
        st.tuples(st.sampled_from(IPS), st.sampled_from([1024, 1152]), st.integers(-4, 130)),
        min_size=1,
        max_size=30,
    ),
    eps_ms=st.sampled_from([0, 500, 2000]),
    purge_at=st.none() | st.integers(0, 130),
)
def test_packed_base_with_delta_answers_like_the_timelines(
    parts: list[list[tuple[str, int, str, str, int]]],
    queries: list[tuple[str, int, int]],
    eps_ms: int,
    purge_at: int | None,
) -> None:
    """The live book (events compacted into a packed base after each part but the last,
    which stays a delta) chooses the same binding, evidence and quality as plain timelines,
    exports the same bindings, and purges the same events."""
    plan = AddressPlan.from_json({"pools": []})
    plain = BlockBook(plan)
    live = BlockBook(plan, PackedBlockBase.empty(eps_ms))
    for n, part in enumerate(parts):
        plain.apply_all(_events(part))
        live.apply_all(_events(part))
        if n < len(parts) - 1:
            live.compact()
    if purge_at is not None:
        cutoff = T0 + purge_at * 500
        assert live.purge_before(cutoff) == plain.purge_before(cutoff)
    assert sorted(map(_row, live.all_bindings())) == sorted(map(_row, plain.all_bindings()))
    for ip, lo, k in queries:
        t = T0 + k * 500
        tl = plain.timeline((ip, lo))
        want = tl.choose(t, eps_ms) if tl else NO_BINDING
        assert live.choose((ip, lo), t, eps_ms) == want, (ip, lo, t)


# One step of a live book's life: a batch of events, a background merge taking its snapshot
# ("start"), that merge's build and swap ("finish"), or a compaction on the spot ("sync").
STEP = st.one_of(
    st.tuples(st.just("events"), st.lists(EVENT, min_size=1, max_size=5)),
    st.tuples(st.sampled_from(["start", "finish", "sync"]), st.just([])),
)


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(STEP, min_size=1, max_size=14),
    queries=st.lists(
        st.tuples(st.sampled_from(IPS), st.sampled_from([1024, 1152]), st.integers(-4, 130)),
        min_size=1,
        max_size=12,
    ),
    eps_ms=st.sampled_from([0, 2000]),
)
def test_a_merge_built_while_events_arrive_answers_like_the_timelines_throughout(
    steps: list[tuple[str, list[tuple[str, int, str, str, int]]]],
    queries: list[tuple[str, int, int]],
    eps_ms: int,
) -> None:
    """A new base built from a snapshot while more events arrive (as `netcx serve` merges off
    the request path): before, during and after the swap, every lookup chooses what plain
    timelines choose, and the book exports the same bindings. A merge overtaken by an
    on-the-spot compaction is refused, not swapped in over it."""
    plan = AddressPlan.from_json({"pools": []})
    plain = BlockBook(plan)
    live = BlockBook(plan, PackedBlockBase.empty(eps_ms))
    pending = None
    for kind, part in steps:
        if kind == "events":
            plain.apply_all(_events(part))
            live.apply_all(_events(part))
        elif kind == "start" and pending is None:
            pending = live.start_compaction()
        elif kind == "finish" and pending is not None:
            overtaken = pending.base is not live.base
            assert live.finish_compaction(pending, pending.build()) is not overtaken
            pending = None
        elif kind == "sync":
            live.compact()
        for ip, lo, k in queries:
            t = T0 + k * 500
            tl = plain.timeline((ip, lo))
            want = tl.choose(t, eps_ms) if tl else NO_BINDING
            assert live.choose((ip, lo), t, eps_ms) == want, (kind, ip, lo, t)
    assert sorted(map(_row, live.all_bindings())) == sorted(map(_row, plain.all_bindings()))


def _row(item: tuple[tuple[str, int], int, int, Binding]) -> tuple[object, ...]:
    key, hi, step, b = item
    return (key, hi, step, b.start_ms, b.end_ms, b.confirmed_ms, b.inferred_end, b.holder,
            b.kind, b.ref, b.source, b.detail)  # fmt: skip
