"""Compact port-block index: packed numpy columns, scalar and vectorised lookups.

Same ε rule as `netcx.domain.network.timeline.choose` (A = last block of the key starting
at or before T+ε, P = the one before it), in 20 bytes per block: start and end (int64,
interleaved so that a lookup's start and end share cache lines) and a holder id (uint32),
plus a small per-key segment table. Keys are (outside ip as int, port_lo); the rows of
one key are consecutive (segment `useg[k]:useg[k+1]`), and the keys of one address are
consecutive ranks, so an address's usual layout (equal blocks from a first port) turns
a port into its key by arithmetic. A lookup is a short binary search inside one segment:
`bisect` for a single hit, a fixed number of vectorised gather steps for a batch.
Built once from a table of blocks (a compaction of older bindings, or a benchmark's
Parquet); a mutable delta in front of it serves the newest records.
"""

from __future__ import annotations

import os
import sys
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from netcx.domain.network import timeline
from netcx.domain.network.blocks import BlockKey
from netcx.domain.network.timeline import Binding, Choice, Timeline, quality_at

NONE = -1
BOUNDARY = -2

T = TypeVar("T")
I64 = npt.NDArray[np.int64]
Ints = npt.NDArray[np.integer]

_CHUNK = 1 << 15  # queries per vectorised step: their rows stay in cache across steps
_DENSE_IPS = 1 << 22  # largest address span mapped by a direct table (4 bytes a slot)


class PackedBlockIndex:
    """Blocks keyed by (outside ip as int, port_lo), each with [start_ms, end_ms) and holder."""

    def __init__(
        self,
        ip: Ints,
        port_lo: Ints,
        port_hi: Ints,
        start_ms: Ints,
        end_ms: Ints,
        holder: Ints,
        eps_ms: int,
    ) -> None:
        key = ip.astype(np.uint64)
        key <<= np.uint64(16)
        key |= port_lo.astype(np.uint64)
        start = start_ms.astype(np.int64, copy=False)
        n = len(key)
        # a compaction writes blocks in key order: no sort
        self.order: I64 | None = None if _sorted_by(key, start) else np.lexsort((start, key))
        if self.order is not None:
            key = key[self.order]
        self.eps_ms = int(eps_ms)
        new_key = np.empty(n, bool)
        new_key[:1] = True
        np.not_equal(key[1:], key[:-1], out=new_key[1:])
        first = np.flatnonzero(new_key)
        self.ukey = key[first]
        self.useg = np.append(first, n).astype(np.int64)
        self.uport_hi = self._ordered(port_hi)[first].astype(np.int32)
        rows = np.empty((n, 2), np.int64)
        rows[:, 0] = self._ordered(start)
        rows[:, 1] = self._ordered(end_ms)
        self.rows = rows
        self.start = rows[:, 0]
        self.end = rows[:, 1]
        self.holder = self._ordered(holder).astype(np.uint32, copy=False)
        self._ips()
        # Row of the block holding ip:port at at_ms, or NONE / BOUNDARY (built on first use).
        self.lookup: Callable[[int, int, int], int] = self._first_lookup
        self._fast: Callable[[int, int, int], int] | None = None
        self._scalar_ready = False

    def _ordered(self, col: Ints) -> Ints:
        return col if self.order is None else col[self.order]

    def _ips(self) -> None:
        """Per outside address: its first key rank, and its layout when uniform (equal
        blocks from a first port: the usual PBA config), else a bisect over its keys."""
        kip = (self.ukey >> np.uint64(16)).astype(np.int64)
        kport = (self.ukey & np.uint64(0xFFFF)).astype(np.int64)
        nk = len(kip)
        new_ip = np.empty(nk, bool)
        new_ip[:1] = True
        np.not_equal(kip[1:], kip[:-1], out=new_ip[1:])
        r0 = np.flatnonzero(new_ip)
        self.uip = kip[r0]
        self.ip_r0 = r0
        self.ip_count = np.diff(np.append(r0, nk))
        size_k = self.uport_hi.astype(np.int64) - kport + 1
        self.ip_first = kport[r0]
        self.ip_size = size_k[r0]
        g = np.cumsum(new_ip) - 1
        expected = self.ip_first[g] + (np.arange(nk) - r0[g]) * self.ip_size[g]
        fits = (kport == expected) & (size_k == self.ip_size[g]) & (size_k > 0)
        self.ip_uniform = np.logical_and.reduceat(fits, r0) if nk else np.zeros(0, bool)
        self.ip_size[~self.ip_uniform] = 1  # (only divides: non-uniform ones use ukey)
        span = int(self.uip[-1] - self.uip[0]) + 1 if nk else 0
        self.ip_table: npt.NDArray[np.int32] | None = None
        if 0 < span <= max(_DENSE_IPS, 4 * len(self.uip)) and span <= 1 << 26:
            self.ip_table = np.full(span, -1, np.int32)
            self.ip_table[self.uip - self.uip[0]] = np.arange(len(self.uip), dtype=np.int32)

    def _prepare_scalar(self) -> None:
        """Tables of the single-lookup path (built on first use; batches do not need them)."""
        # memoryviews share the numpy buffers (no copies); start/end are strided views
        self._start = self.start.data
        self._end = self.end.data
        self._holder = self.holder.data
        self._seg = self.useg.data
        self._layout: dict[int, tuple[int, int, int, int, list[int] | None, list[int] | None]] = {}
        ukeys, uhi = self.ukey.tolist(), self.uport_hi.tolist()
        for ip_, r, first, size, count, uniform in zip(
            self.uip.tolist(),
            self.ip_r0.tolist(),
            self.ip_first.tolist(),
            self.ip_size.tolist(),
            self.ip_count.tolist(),
            self.ip_uniform.tolist(),
            strict=True,
        ):
            if uniform:
                self._layout[ip_] = (r, first, size, count, None, None)
            else:
                los = [k & 0xFFFF for k in ukeys[r : r + count]]
                self._layout[ip_] = (r, 0, 0, 0, los, uhi[r : r + count])
        self._scalar_ready = True

    def __len__(self) -> int:
        return len(self.end)

    def nbytes(self) -> int:
        """Approximate bytes held: columns, key and address tables, per-address layouts."""
        cols = self.rows.nbytes + self.holder.nbytes
        keys = self.ukey.nbytes + self.useg.nbytes + self.uport_hi.nbytes
        ips = (
            sum(
                a.nbytes for a in (self.uip, self.ip_r0, self.ip_count, self.ip_first, self.ip_size)
            )
            + self.ip_uniform.nbytes
        )
        ips += 0 if self.ip_table is None else self.ip_table.nbytes
        if not self._scalar_ready:
            self._prepare_scalar()
        py = sys.getsizeof(self._layout) + sum(
            64 + 4 * 32 + (0 if v[4] is None else 2 * 40 * len(v[4])) for v in self._layout.values()
        )
        return int(cols + keys + ips + py)

    def start_of(self, row: int) -> int:
        return int(self.start[row])

    # ------------------------------------------------------------ one lookup

    def _first_lookup(self, ip: int, port: int, at_ms: int) -> int:
        return self.scalar_lookup()(ip, port, at_ms)

    def scalar_lookup(self) -> Callable[[int, int, int], int]:
        """The single-lookup function (tables built now if not yet): bind it once."""
        if self._fast is None:
            if not self._scalar_ready:
                self._prepare_scalar()
            self._fast = self.lookup = self._make_lookup()
        return self._fast

    def _make_lookup(self) -> Callable[[int, int, int], int]:
        """The single-lookup function, with every table bound to a local (hot path)."""
        layout_get = self._layout.get
        seg, eps = self._seg, self.eps_ms
        start, end, holder = self._start, self._end, self._holder

        def lookup(ip: int, port: int, at_ms: int) -> int:
            """Row of the block holding ip:port at at_ms, or NONE / BOUNDARY."""
            layout = layout_get(ip)
            if layout is None:
                return NONE
            r, first, size, count, los, his = layout
            if los is None:
                j = (port - first) // size
                if port < first or j >= count:
                    return NONE
            else:
                j = bisect_right(los, port) - 1
                if j < 0 or port > his[j]:  # type: ignore[index]
                    return NONE
            r += j
            lo = seg[r]
            i = bisect_right(start, at_ms + eps, lo, seg[r + 1]) - 1
            if i < lo:
                return NONE
            limit = at_ms - eps
            if end[i] <= limit:
                return NONE
            if i > lo and end[i - 1] > limit:
                if holder[i - 1] != holder[i]:
                    return BOUNDARY
                if start[i] > at_ms:
                    return i - 1
            return i

        return lookup

    def key_rank(self, ip: int, port_lo: int) -> int:
        """Rank of the key (ip, port_lo), or NONE."""
        rank = int(np.searchsorted(self.ukey, (ip << 16) | port_lo))
        return (
            rank if rank < len(self.ukey) and int(self.ukey[rank]) == (ip << 16) | port_lo else NONE
        )

    # ------------------------------------------------------------ many lookups

    def lookup_many(self, ip: Ints, port: Ints, at_ms: I64) -> I64:
        """Vectorised `lookup`: row per query, or NONE / BOUNDARY (in query order)."""
        return self._many(self._lookup_chunk, ip, port, at_ms)

    def last_rows_many(self, ip: Ints, port: Ints, at_ms: I64) -> I64:
        """Per query, the row of A = the last block of its key starting at or before
        `at_ms` (ε not added: callers pass T+ε), or NONE; P is the row before A when it has
        the same key. The batch resolver applies the ε rule to A and P itself (in SQL)."""
        return self._many(self._last_chunk, ip, port, at_ms)

    def _many(
        self, chunk: Callable[[I64, I64, I64, int], I64], ip: Ints, port: Ints, at_ms: I64
    ) -> I64:
        n = len(at_ms)
        out = np.full(n, NONE, np.int64)
        if len(self.end) == 0 or n == 0:
            return out
        ip64 = ip.astype(np.int64, copy=False)
        port64 = port.astype(np.int64, copy=False)
        at64 = at_ms.astype(np.int64, copy=False)
        seg_max = int(np.diff(self.useg).max())
        steps = seg_max.bit_length()  # binary-search steps covering the longest segment

        def part(c: int) -> None:
            sl = slice(c, min(c + _CHUNK, n))
            out[sl] = chunk(ip64[sl], port64[sl], at64[sl], steps)

        # numpy releases the GIL in its loops: chunks alternate between the cores
        threads = max(1, min(os.cpu_count() or 1, n // (8 * _CHUNK)))
        starts = range(0, n, _CHUNK)
        if threads == 1:
            for c in starts:
                part(c)
        else:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(part, starts))
        return out

    def _key_of(self, ip: I64, port: I64) -> tuple[I64, npt.NDArray[np.bool_]]:
        """Key rank of each query's block, and whether there is one."""
        if self.ip_table is not None:
            rel = ip - self.uip[0]
            inside = (rel >= 0) & (rel < len(self.ip_table))
            g = self.ip_table[np.where(inside, rel, 0)].astype(np.int64)
            g[~inside] = -1
        else:
            g = np.searchsorted(self.uip, ip)
            np.minimum(g, len(self.uip) - 1, out=g)
            g[self.uip[g] != ip] = -1
        ok = g >= 0
        np.maximum(g, 0, out=g)
        uniform = self.ip_uniform[g]
        odd = ok & ~uniform
        ok &= uniform
        first = self.ip_first[g]
        j = port - first
        j //= self.ip_size[g]
        ok &= port >= first
        ok &= j < self.ip_count[g]
        k = self.ip_r0[g] + j
        if odd.any():  # addresses with an irregular layout: search their keys
            qkey = (ip[odd].astype(np.uint64) << np.uint64(16)) | port[odd].astype(np.uint64)
            kk = np.searchsorted(self.ukey, qkey, "right") - 1
            below_all = kk < 0  # (a port below the first key's block, on the first address)
            np.maximum(kk, 0, out=kk)
            same = (self.ukey[kk] >> np.uint64(16)) == (qkey >> np.uint64(16))
            same &= port[odd] <= self.uport_hi[kk]
            same &= ~below_all
            k[odd] = kk
            ok[odd] = same
        k[~ok] = 0
        return k, ok

    def _search(
        self, ip: I64, port: I64, target: I64, steps: int
    ) -> tuple[I64, I64, npt.NDArray[np.bool_]]:
        """(i, lo, ok): i = row of the last start <= target in the query's key segment
        (valid where ok), lo = the segment's first row."""
        start = self.start
        k, ok = self._key_of(ip, port)
        lo = self.useg[k]
        hi = self.useg[k + 1]
        hi[~ok] = 0  # (no block: an empty segment)
        # pos - lo = how many of the segment's starts are <= target: probe pos + step - 1
        # for halving powers of two (every start before pos is <= target, segment sorted)
        pos = lo.copy()
        last = len(start) - 1
        for s in range(steps - 1, -1, -1):
            step = 1 << s
            probe = pos + (step - 1)
            go = probe < hi
            np.minimum(probe, last, out=probe)
            go &= start[probe] <= target
            pos += go * step
        i = pos - 1
        ok &= i >= lo
        np.maximum(i, 0, out=i)
        return i, lo, ok

    def _last_chunk(self, ip: I64, port: I64, at_ms: I64, steps: int) -> I64:
        i, _, ok = self._search(ip, port, at_ms, steps)
        return np.where(ok, i, NONE)

    def _lookup_chunk(self, ip: I64, port: I64, at_ms: I64, steps: int) -> I64:
        eps = self.eps_ms
        start, end, holder = self.start, self.end, self.holder
        i, lo, ok = self._search(ip, port, at_ms + eps, steps)
        limit = at_ms - eps
        ok &= end[i] > limit
        res = np.where(ok, i, NONE)
        # P near T too (rare): a holder change is a boundary; with the same holder, T
        # before A's start answers P
        near = ok & (i > lo)
        near &= end[np.maximum(i - 1, 0)] > limit
        w = np.flatnonzero(near)
        if len(w):
            iw = i[w]
            boundary = holder[iw - 1] != holder[iw]
            res[w] = np.where(boundary, BOUNDARY, np.where(start[iw] > at_ms[w], iw - 1, iw))
        return res


def _sorted_by(key: npt.NDArray[np.uint64], start: I64) -> bool:
    if len(key) < 2:
        return True
    dk = key[1:] >= key[:-1]
    if not bool(dk.all()):
        return False
    same = key[1:] == key[:-1]
    return bool((~same | (start[1:] >= start[:-1])).all())


Shape = tuple[str, str, str, bool]
"""(kind, source, detail, inferred_end): the few distinct evidence shapes of bindings."""


class PackedBlockBase:
    """The live resolver's compacted port-block timelines (`netcx.domain.network.blocks.
    BlockBase`): a PackedBlockIndex plus evidence columns, so a chosen row becomes the same
    Binding (ref, source, detail, times) the timeline would have given.

    Addresses are numbered densely (sorted) for the index; holder strings and evidence
    shapes are interned; refs are one object array (pointers to the events' strings).
    """

    def __init__(
        self,
        ips: list[str],
        index: PackedBlockIndex,
        holders: list[str],
        confirmed: I64,
        refs: npt.NDArray[np.object_],
        shapes: list[Shape],
        shape: npt.NDArray[np.uint16],
    ) -> None:
        self._ips = ips
        self._ip_id = {ip: n for n, ip in enumerate(ips)}
        self.index = index
        self._holders = holders
        self.confirmed = confirmed
        self.refs = refs
        self._shapes = shapes
        self.shape = shape
        self._lookup = index.scalar_lookup()
        # memoryviews: indexing them gives Python ints at once (numpy scalars are slower)
        self._start, self._end = index.start.data, index.end.data
        self._holder, self._confirmed, self._shape = index.holder.data, confirmed.data, shape.data

    @classmethod
    def empty(cls, eps_ms: int) -> PackedBlockBase:
        z = np.zeros(0, np.int64)
        index = PackedBlockIndex(z, z, z, z, z, z, eps_ms)
        return cls([], index, [], z, np.zeros(0, object), [], np.zeros(0, np.uint16))

    def __len__(self) -> int:
        return len(self.index)

    def nbytes(self) -> int:
        """Index, evidence columns and interning tables (the ref strings themselves are
        shared with the events that produced them and not counted)."""
        tables = sum(sys.getsizeof(x) + 8 * len(x) for x in (self._ips, self._holders))
        tables += sum(sys.getsizeof(h) for h in self._holders) + 120 * len(self._ips)
        cols = self.confirmed.nbytes + self.refs.nbytes + self.shape.nbytes
        return self.index.nbytes() + cols + tables

    # ------------------------------------------------------------ answers

    def _binding(self, row: int) -> Binding:
        kind, source, detail, inferred = self._shapes[self._shape[row]]
        return Binding(
            start_ms=self._start[row],
            end_ms=self._end[row],
            confirmed_ms=self._confirmed[row],
            inferred_end=inferred,
            holder=self._holders[self._holder[row]],
            kind=kind,
            ref=self.refs[row],
            source=source,
            detail=detail,
        )

    def choose(self, key: BlockKey, at_ms: int, eps_ms: int) -> Choice | str:
        ip_id = self._ip_id.get(key[0])
        if ip_id is None:
            return timeline.NONE
        if eps_ms != self.index.eps_ms:  # (one resolver, one ε: never in practice)
            raise ValueError(f"packed base built for eps {self.index.eps_ms} ms, not {eps_ms}")
        row = self._lookup(ip_id, key[1], at_ms)
        if row == NONE:
            return timeline.NONE
        if row == BOUNDARY:
            return timeline.BOUNDARY
        b = self._binding(row)
        return Choice(b, quality_at(b, at_ms))

    def timelines(self) -> Iterable[tuple[BlockKey, list[Binding]]]:
        seg = self.index.useg.tolist()
        for rank, k in enumerate(self.index.ukey.tolist()):
            key = (self._ips[k >> 16], k & 0xFFFF)
            yield key, [self._binding(row) for row in range(seg[rank], seg[rank + 1])]

    # ------------------------------------------------------------ compaction

    def merged(
        self,
        changed: Collection[BlockKey],
        delta: Mapping[BlockKey, Timeline],
        port_hi: Callable[[BlockKey], int],
    ) -> PackedBlockBase:
        idx = self.index
        # rows of the old base that stay: every key not changed since
        keep_key = np.ones(len(idx.ukey), bool)
        for ip, lo in changed:
            ip_id = self._ip_id.get(ip)
            rank = NONE if ip_id is None else idx.key_rank(ip_id, lo)
            if rank != NONE:
                keep_key[rank] = False
        keep = np.repeat(keep_key, np.diff(idx.useg))
        old_ip_id = (idx.ukey >> np.uint64(16)).astype(np.int64)
        old_ip_id = np.repeat(old_ip_id, np.diff(idx.useg))[keep]
        old_lo = np.repeat((idx.ukey & np.uint64(0xFFFF)).astype(np.int64), np.diff(idx.useg))
        old_hi = np.repeat(idx.uport_hi.astype(np.int64), np.diff(idx.useg))
        # the delta as columns (interned against the old tables)
        ips = list(self._ips)
        ip_ids = dict(self._ip_id)
        holders = list(self._holders)
        holder_id = {h: n for n, h in enumerate(holders)}
        shapes = list(self._shapes)
        shape_id = {s: n for n, s in enumerate(shapes)}
        cols: dict[str, list[int]] = {
            c: [] for c in ("ip", "lo", "hi", "start", "end", "holder", "confirmed", "shape")
        }
        refs: list[str] = []
        for key, tl in delta.items():
            ipn = _intern(ip_ids, ips, key[0])
            hi = port_hi(key)
            for b in tl.bindings:
                cols["ip"].append(ipn)
                cols["lo"].append(key[1])
                cols["hi"].append(hi)
                cols["start"].append(b.start_ms)
                cols["end"].append(b.end_ms)
                cols["holder"].append(_intern(holder_id, holders, b.holder))
                cols["confirmed"].append(b.confirmed_ms)
                cols["shape"].append(
                    _intern(shape_id, shapes, (b.kind, b.source, b.detail, b.inferred_end))
                )
                refs.append(b.ref)
        # addresses numbered in sorted order again (the index keys on the number)
        order_ips = sorted(range(len(ips)), key=ips.__getitem__)
        renumber = np.empty(len(ips), np.int64)
        renumber[order_ips] = np.arange(len(ips))
        new = {c: np.array(v, np.int64) for c, v in cols.items()}
        new_refs = np.empty(len(refs), object)
        new_refs[:] = refs

        def both(old: npt.NDArray[np.generic], fresh: npt.NDArray[np.generic]) -> I64:
            return np.concatenate([old.astype(np.int64)[keep], fresh])

        index = PackedBlockIndex(
            renumber[np.concatenate([old_ip_id, new["ip"]])],
            both(old_lo, new["lo"]),
            both(old_hi, new["hi"]),
            both(idx.start, new["start"]),
            both(idx.end, new["end"]),
            both(idx.holder, new["holder"]),
            idx.eps_ms,
        )
        confirmed = both(self.confirmed, new["confirmed"])
        all_refs = np.concatenate([self.refs[keep], new_refs])
        shape = both(self.shape, new["shape"])
        if index.order is not None:
            confirmed, all_refs, shape = (c[index.order] for c in (confirmed, all_refs, shape))
        # holders no longer referenced are dropped (after a purge, say)
        used, holder_ids = np.unique(index.holder, return_inverse=True)
        index.holder[:] = holder_ids
        return PackedBlockBase(
            [ips[i] for i in order_ips],
            index,
            [holders[i] for i in used.tolist()],
            confirmed,
            all_refs,
            shapes,
            shape.astype(np.uint16),
        )


def _intern(ids: dict[T, int], table: list[T], value: T) -> int:
    n = ids.setdefault(value, len(table))
    if n == len(table):
        table.append(value)
    return n
