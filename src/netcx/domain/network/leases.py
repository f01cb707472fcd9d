"""RADIUS sessions → address leases with validity intervals (network-logs.md §1.7, §3.3)."""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Iterable
from dataclasses import dataclass, field

from netcx.domain.network.directory import UNKNOWN_HOLDER_PREFIX, LineDirectory
from netcx.domain.network.plan import GLOBAL_CONTEXT, AddressPlan, Nas, prefix_key
from netcx.domain.network.records import AccountingRecord
from netcx.domain.network.timeline import Binding, TimelineBook, close_overlaps

START = "Start"
INTERIM = "Interim-Update"
STOP = "Stop"
ACCOUNTING_ON = "Accounting-On"
ACCOUNTING_OFF = "Accounting-Off"
STATUSES = frozenset({START, INTERIM, STOP, ACCOUNTING_ON, ACCOUNTING_OFF, "Alive"})

FRAMED_IP = "framed_ip"
FRAMED_V6 = "framed_ipv6_prefix"
DELEGATED_V6 = "delegated_ipv6_prefix"

LeaseKey = tuple[str, str]
"""(routing context, address): an IPv4 address, or an IPv6 prefix in canonical form."""


@dataclass(frozen=True, slots=True)
class LeasePolicy:
    """How lease ends are inferred (ResolverSettings, in ms)."""

    lease_end_grace_ms: int = 0
    interim_interval_ms: int = 900_000  # used when the NAS is not in the plan
    interim_margin_factor: float = 2.0


@dataclass(slots=True)
class _Session:
    nas_key: str
    session_id: str
    nas_name: str
    holder: str
    access: str
    interval_ms: int
    start_ms: int | None = None  # from a Start record
    earliest_ms: int = 0  # earliest start implied by any record
    last_seen_ms: int = 0
    stop_ms: int | None = None
    raw_ref: str = ""
    # (kind, address) → [(from_ms, lease key)]: address changes mid-session
    addresses: dict[str, list[tuple[int, LeaseKey]]] = field(default_factory=dict)


class LeaseBook(TimelineBook[LeaseKey]):
    """Folds accounting records into sessions and serves lease timelines per address key.

    Records may arrive in any order and more than once; applying a record twice changes
    nothing. Timelines of keys touched since the last query are rebuilt lazily.
    """

    def __init__(self, plan: AddressPlan, directory: LineDirectory, policy: LeasePolicy) -> None:
        super().__init__()
        self.plan = plan
        self.directory = directory
        self.policy = policy
        self._sessions: dict[tuple[str, str], _Session] = {}
        self._sessions_by_key: dict[LeaseKey, set[tuple[str, str]]] = {}
        self._sessions_by_nas: dict[str, set[tuple[str, str]]] = {}
        self._reboots: dict[str, list[int]] = {}
        self.prefix_lengths: set[int] = set()
        self.records_applied = 0

    # ------------------------------------------------------------ ingest

    def apply_all(self, records: Iterable[AccountingRecord]) -> None:
        for r in records:
            self.apply(r)

    def apply(self, r: AccountingRecord) -> None:
        self.records_applied += 1
        nas = self.plan.nas_of(r.nas_ip, r.nas_identifier)
        nas_key = r.nas_ip or r.nas_identifier
        if r.status in (ACCOUNTING_ON, ACCOUNTING_OFF):
            times = self._reboots.setdefault(nas_key, [])
            if r.event_ms not in times:
                insort(times, r.event_ms)
                for skey in self._sessions_by_nas.get(nas_key, ()):
                    self._touch(self._sessions[skey])
            return
        if not r.session_id:
            return
        skey = (nas_key, r.session_id)
        s = self._sessions.get(skey)
        if s is None:
            access = nas.access if nas is not None else _guess_access(r)
            interval_ms = (
                nas.interim_interval_s * 1000
                if nas is not None
                else self.policy.interim_interval_ms
            )
            s = _Session(
                nas_key=nas_key,
                session_id=r.session_id,
                nas_name=(nas.nas_identifier if nas is not None else "")
                or r.nas_identifier
                or nas_key,
                holder=self.directory.holder_of(r, access),
                access=access,
                interval_ms=interval_ms,
                earliest_ms=r.event_ms,
                last_seen_ms=r.event_ms,
                raw_ref=r.raw_ref,
            )
            self._sessions[skey] = s
            self._sessions_by_nas.setdefault(nas_key, set()).add(skey)
        elif s.holder.startswith(UNKNOWN_HOLDER_PREFIX):
            s.holder = self.directory.holder_of(r, s.access)
        implied_start = r.event_ms - (r.session_time_s or 0) * 1000
        if r.status == START:
            s.start_ms = r.event_ms if s.start_ms is None else min(s.start_ms, r.event_ms)
            s.raw_ref = r.raw_ref or s.raw_ref
        s.earliest_ms = min(s.earliest_ms, implied_start, r.event_ms)
        s.last_seen_ms = max(s.last_seen_ms, r.event_ms)
        if r.status == STOP:
            s.stop_ms = r.event_ms if s.stop_ms is None else min(s.stop_ms, r.event_ms)
        self._add_addresses(s, skey, r, nas)
        self._touch(s)

    def _add_addresses(
        self, s: _Session, skey: tuple[str, str], r: AccountingRecord, nas: Nas | None
    ) -> None:
        found: list[tuple[str, LeaseKey]] = []
        if r.framed_ip:
            found.append((FRAMED_IP, (self.plan.context_of_address(r.framed_ip, nas), r.framed_ip)))
        for kind, text in (
            (FRAMED_V6, r.framed_ipv6_prefix),
            (DELEGATED_V6, r.delegated_ipv6_prefix),
        ):
            if text:
                addr, _, length = text.partition("/")
                plen = int(length or 128)
                self.prefix_lengths.add(plen)
                found.append((kind, (GLOBAL_CONTEXT, prefix_key(addr, plen))))
        for kind, key in found:
            segs = s.addresses.setdefault(kind, [])
            if any(k == key for _, k in segs):
                continue
            segs.append((r.event_ms, key))
            segs.sort()
            self._sessions_by_key.setdefault(key, set()).add(skey)

    def _touch(self, s: _Session) -> None:
        for segs in s.addresses.values():
            self._dirty.update(k for _, k in segs)

    # ------------------------------------------------------------ timelines

    def _session_end(self, s: _Session) -> tuple[int, int, bool]:
        """(end_ms, confirmed_ms, inferred) of a session before implicit closes."""
        start = self._session_start(s)
        if s.stop_ms is not None:
            end, confirmed, inferred = s.stop_ms + self.policy.lease_end_grace_ms, s.stop_ms, False
        else:
            # Live until the next Interim is due; after that only inferred (§3.3).
            tail = int(s.interval_ms * self.policy.interim_margin_factor)
            end, inferred = s.last_seen_ms + tail, True
            confirmed = min(end, s.last_seen_ms + s.interval_ms)
        reboots = self._reboots.get(s.nas_key)
        if reboots:
            i = bisect_right(reboots, start)
            if i < len(reboots) and reboots[i] < end:
                end, confirmed, inferred = reboots[i], min(confirmed, reboots[i]), False
        return end, confirmed, inferred

    @staticmethod
    def _session_start(s: _Session) -> int:
        return s.start_ms if s.start_ms is not None else s.earliest_ms

    def bindings_of(self, key: LeaseKey) -> list[Binding]:
        items: list[Binding] = []
        for skey in self._sessions_by_key.get(key, ()):
            s = self._sessions[skey]
            start = self._session_start(s)
            end, confirmed, inferred = self._session_end(s)
            for kind, segs in s.addresses.items():
                for idx, (from_ms, k) in enumerate(segs):
                    if k != key:
                        continue
                    seg_start = start if idx == 0 else from_ms
                    seg_end = segs[idx + 1][0] if idx + 1 < len(segs) else end
                    items.append(
                        Binding(
                            start_ms=seg_start,
                            end_ms=seg_end,
                            confirmed_ms=min(confirmed, seg_end),
                            inferred_end=inferred and idx + 1 == len(segs),
                            holder=s.holder,
                            kind="ipv6_prefix" if kind != FRAMED_IP else "radius_session",
                            ref=f"{s.nas_key}/{s.session_id}",
                            source=s.nas_name,
                            detail=kind,
                        )
                    )
        return close_overlaps(items)

    def all_bindings(self) -> Iterable[tuple[LeaseKey, Binding]]:
        """Every lease (for the batch resolver and retention)."""
        self._refresh()
        for key, tl in self._timelines.items():
            for b in tl.bindings:
                yield key, b

    # ------------------------------------------------------------ retention

    def purge_before(self, cutoff_ms: int) -> int:
        """Forget sessions that ended before `cutoff_ms`; returns how many were dropped."""
        dropped = 0
        for skey, s in list(self._sessions.items()):
            end, _, _ = self._session_end(s)
            if end < cutoff_ms:
                dropped += 1
                del self._sessions[skey]
                self._sessions_by_nas.get(s.nas_key, set()).discard(skey)
                for segs in s.addresses.values():
                    for _, k in segs:
                        keyset = self._sessions_by_key.get(k)
                        if keyset is not None:
                            keyset.discard(skey)
                            if not keyset:
                                del self._sessions_by_key[k]
                        self._dirty.add(k)
        for nas_key, times in self._reboots.items():
            self._reboots[nas_key] = [t for t in times if t >= cutoff_ms]
        self._refresh()
        return dropped


def _guess_access(r: AccountingRecord) -> str:
    """Access type of a NAS missing from the plan: mobile gateways send an MSISDN."""
    return "mobile" if r.calling_station_id or r.imsi else "fixed"
