"""Compact port-block index: packed numpy columns, scalar and vectorised lookups.

Same ε rule as `netcx.domain.network.timeline.choose` (A = last block of the key starting
at or before T+ε, P = the one before it), in 20 bytes per block: a shifted start (int64),
the end (int64) and a holder id (uint32), plus a small per-key segment table. The start
is stored shifted by `rank(key) × SPAN`, which makes the whole column one sorted array:
one `searchsorted` answers a batch of hits, one `bisect` answers a single hit.
Built once from a table of blocks (a compaction of older bindings, or a benchmark's
Parquet); the mutable in-memory books serve the newest records.
"""

from __future__ import annotations

import os
import sys
from bisect import bisect_right
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

NONE = -1
BOUNDARY = -2

I64 = npt.NDArray[np.int64]
Ints = npt.NDArray[np.integer]


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
        key = (ip.astype(np.uint64) << np.uint64(16)) | port_lo.astype(np.uint64)
        start = start_ms.astype(np.int64)
        if _sorted_by(key, start):  # a compaction writes blocks in key order: no sort
            order = slice(None)
        else:
            order = np.lexsort((start, key))  # type: ignore[assignment]
            key = key[order]
            start = start[order]
        self.eps_ms = int(eps_ms)
        first = (
            np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, np.int64)
        )
        self.ukey = key[first]
        self.useg = np.r_[first, len(key)].astype(np.int64)
        self.uport_hi = port_hi[order][first].astype(np.int32)
        rank = (
            np.cumsum(np.r_[True, key[1:] != key[:-1]]) - 1 if len(key) else np.zeros(0, np.int64)
        )
        self.base = int(start.min()) - 1 if len(start) else 0
        self.span = (int(start.max()) - self.base + 2) if len(start) else 1
        self.shifted = start - self.base + rank.astype(np.int64) * self.span
        self.end = end_ms[order].astype(np.int64)
        self.holder = holder[order].astype(np.uint32)
        self._scalar_ready = False
        # Row of the block holding ip:port at at_ms, or NONE / BOUNDARY (built on first use).
        self.lookup: Callable[[int, int, int], int] = self._first_lookup

    def _prepare_scalar(self) -> None:
        """Tables of the single-lookup path (built on first use; batches do not need them)."""
        # memoryviews share the numpy buffers (no copies)
        self._shifted = self.shifted.data
        self._end = self.end.data
        self._holder = self.holder.data
        self._seg = self.useg.tolist()
        # Per outside address: its keys are consecutive ranks. A uniform layout (equal
        # blocks from a first port: the usual PBA config) is arithmetic, else bisect.
        self._layout: dict[int, tuple[int, int, int, int, list[int] | None, list[int] | None]] = {}
        ukeys, uhi = self.ukey.tolist(), self.uport_hi.tolist()
        r = 0
        while r < len(ukeys):
            ip_ = ukeys[r] >> 16
            r_end = r
            while r_end < len(ukeys) and ukeys[r_end] >> 16 == ip_:
                r_end += 1
            los = [k & 0xFFFF for k in ukeys[r:r_end]]
            his = uhi[r:r_end]
            size = his[0] - los[0] + 1
            uniform = all(
                lo == los[0] + j * size and hi == lo + size - 1
                for j, (lo, hi) in enumerate(zip(los, his, strict=True))
            )
            self._layout[ip_] = (
                (r, los[0], size, len(los), None, None) if uniform else (r, 0, 0, 0, los, his)
            )
            r = r_end
        self._scalar_ready = True

    def __len__(self) -> int:
        return len(self.end)

    def nbytes(self) -> int:
        """Approximate bytes held: columns, segment tables and the per-address layouts."""
        cols = self.shifted.nbytes + self.end.nbytes + self.holder.nbytes
        segs = self.ukey.nbytes + self.useg.nbytes + self.uport_hi.nbytes
        if not self._scalar_ready:
            self._prepare_scalar()
        py = sys.getsizeof(self._seg) + 32 * len(self._seg)
        py += sys.getsizeof(self._layout) + sum(
            64 + 4 * 32 + (0 if v[4] is None else 2 * 40 * len(v[4])) for v in self._layout.values()
        )
        return int(cols + segs + py)

    def start_of(self, row: int) -> int:
        r = int(np.searchsorted(self.useg, row, side="right")) - 1
        return int(self.shifted[row]) - r * self.span + self.base

    # ------------------------------------------------------------ one lookup

    def _first_lookup(self, ip: int, port: int, at_ms: int) -> int:
        self._prepare_scalar()
        self.lookup = self._make_lookup()
        return self.lookup(ip, port, at_ms)

    def _make_lookup(self) -> Callable[[int, int, int], int]:
        """The single-lookup function, with every table bound to a local (hot path)."""
        layout_get = self._layout.get
        seg, span, base, eps = self._seg, self.span, self.base, self.eps_ms
        shifted, end, holder = self._shifted, self._end, self._holder

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
            off = r * span - base
            i = bisect_right(shifted, at_ms + eps + off, lo, seg[r + 1]) - 1
            if i < lo:
                return NONE
            limit = at_ms - eps
            if end[i] <= limit:
                return NONE
            if i > lo and end[i - 1] > limit:
                if holder[i - 1] != holder[i]:
                    return BOUNDARY
                if shifted[i] > at_ms + off:
                    return i - 1
            return i

        return lookup

    # ------------------------------------------------------------ many lookups

    def lookup_many(self, ip: Ints, port: Ints, at_ms: I64) -> I64:
        """Vectorised `lookup`: row per query, or NONE / BOUNDARY."""
        n_rows = len(self.end)
        if n_rows == 0:
            return np.full(len(at_ms), NONE, np.int64)
        qkey = (ip.astype(np.uint64) << np.uint64(16)) | port.astype(np.uint64)
        out = np.empty(len(qkey), np.int64)

        def part(sl: slice) -> None:
            # Searching in key order turns random probes into a near-sequential sweep.
            order = np.argsort(qkey[sl])
            rows = self._lookup_sorted(qkey[sl][order], at_ms[sl][order])
            view = out[sl]
            view[order] = rows

        # numpy releases the GIL in sort/search/take: one chunk per core
        n = len(qkey)
        chunks = max(1, min(os.cpu_count() or 1, n // 500_000))
        bounds = [n * c // chunks for c in range(chunks + 1)]
        slices = [slice(bounds[c], bounds[c + 1]) for c in range(chunks)]
        if chunks == 1:
            part(slices[0])
        else:
            with ThreadPoolExecutor(chunks) as pool:
                list(pool.map(part, slices))
        return out

    def _lookup_sorted(self, qkey: npt.NDArray[np.uint64], at_ms: I64) -> I64:
        # (in-place operations: at 10 M queries every temporary array costs ~80 MB)
        eps, base, span = self.eps_ms, self.base, self.span
        n_rows = len(self.end)
        # the block range: last key (ip, port_lo) with port_lo <= port, on the same ip
        k = np.searchsorted(self.ukey, qkey, "right")
        k -= 1
        ok = k >= 0
        np.maximum(k, 0, out=k)
        ukey_k = self.ukey[k]
        ok &= (ukey_k >> np.uint64(16)) == (qkey >> np.uint64(16))
        ok &= (qkey & np.uint64(0xFFFF)).astype(np.int32) <= self.uport_hi[k]
        lo = self.useg[k]
        shift = k
        shift *= span  # k is not needed any more
        rel = at_ms - base  # T relative to the index's time base
        target = rel + eps
        np.clip(target, -1, span - 1, out=target)
        target += shift
        i = np.searchsorted(self.shifted, target, "right")
        i -= 1
        ok &= i >= lo
        np.clip(i, 0, n_rows - 1, out=i)
        limit = at_ms - eps
        end_i = self.end[i]
        ok &= end_i > limit
        p = i - 1
        np.maximum(p, 0, out=p)
        p_near = self.end[p] > limit
        p_near &= i > lo
        p_near &= ok
        boundary = self.holder[p] != self.holder[i]
        boundary &= p_near
        # T before A's start (same holder): the answer is P
        rel += shift
        use_prev = self.shifted[i] > rel
        use_prev &= p_near
        use_prev &= ~boundary
        out = np.where(use_prev, p, i)
        out[~ok] = NONE
        out[boundary] = BOUNDARY
        return out


def _sorted_by(key: npt.NDArray[np.uint64], start: I64) -> bool:
    if len(key) < 2:
        return True
    dk = key[1:] >= key[:-1]
    if not bool(dk.all()):
        return False
    same = key[1:] == key[:-1]
    return bool((~same | (start[1:] >= start[:-1])).all())
