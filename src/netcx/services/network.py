"""Network identity use cases: ingest logs, resolve (ip, port, time), purge, evaluate."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from netcx.config import ResolverSettings
from netcx.domain.network.blocks import BlockBase, BlockBook, BlockCompaction
from netcx.domain.network.config import NetworkConfig
from netcx.domain.network.leases import LeaseBook, LeasePolicy
from netcx.domain.network.records import AccountingRecord, BlockEvent
from netcx.domain.network.resolver import NetworkResolver
from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.domain.resolution import Level, Resolution
from netcx.errors import ParseError
from netcx.ports import BindingJournal, NetworkLogReader

log = logging.getLogger("netcx.network")

DAY_MS = 86_400_000
COMPACT_MIN_KEYS = 4096
"""Changed block keys that trigger folding the delta into the packed base (or 1/32 of the
base's rows if that is more: the rebuild costs O(base), so it runs in amortised O(1)). The
rebuild runs off the request path (`run_merge`); only its snapshot and swap, O(delta), hold
the lock."""
CATCH_UP_EVERY_S = 0.005
"""A resolution reads the journal's new records unless another did so this recently: a
group of events resolves many visits in a row, and each catch-up lists and stats both journal
folders (~20 % of a visit's recognition). 5 ms of staleness is far below how late RADIUS
accounting and NAT logs arrive anyway; `ingest` and `purge` always catch up."""


MERGE_RETRY_S = 60.0
"""After a block-base rebuild failed, the next one starts no sooner than this (the delta goes
on answering: a failed rebuild costs speed, never answers)."""


def in_background(work: Callable[[], None]) -> None:
    """Run `work` (a block-base rebuild, or freeing the last one's snapshot) on its own
    thread: lookups go on meanwhile."""
    threading.Thread(target=work, name="block-base-merge", daemon=True).start()


class _Merge:
    """One block-base rebuild: its snapshot, and its result (or error) once `run` ended."""

    def __init__(self, compaction: BlockCompaction) -> None:
        self.compaction = compaction
        self.done = threading.Event()
        self._base: BlockBase | None = None
        self._error: Exception | None = None

    def run(self) -> None:
        try:
            self._base = self.compaction.build()
        except Exception as err:  # raised again on the thread that swaps it in
            self._error = err
        finally:
            self.done.set()

    def result(self) -> BlockBase:
        if self._error is not None:
            raise self._error
        assert self._base is not None
        return self._base

    def retire(self) -> None:
        """After the swap, free the snapshot on the calling thread: its timelines (now
        referenced only here) one at a time, so a request may take the interpreter between
        two (freeing them at once held it ~50 ms at 600 k bindings); then, with this
        object, the old base."""
        delta = self.compaction.delta  # (never seen by lookups: safe to empty)
        while delta:
            delta.popitem()


def lease_policy(settings: ResolverSettings) -> LeasePolicy:
    return LeasePolicy(
        lease_end_grace_ms=int(settings.lease_end_grace_s * 1000),
        interim_interval_ms=settings.interim_interval_s * 1000,
        interim_margin_factor=settings.interim_margin_factor,
    )


def build_resolver(
    config: NetworkConfig,
    settings: ResolverSettings,
    pseudonymizer: Pseudonymizer,
    records: Iterable[AccountingRecord] = (),
    events: Iterable[BlockEvent] = (),
    block_base: BlockBase | None = None,
) -> NetworkResolver:
    """A real-time resolver over the given records (books stay open for more); port blocks
    are compacted into `block_base` when one is given."""
    leases = LeaseBook(config.plan, config.directory, lease_policy(settings))
    leases.apply_all(records)
    blocks = BlockBook(config.plan, block_base)
    blocks.apply_all(events)
    blocks.compact()
    return NetworkResolver(
        config.plan,
        config.nat,
        leases,
        blocks,
        config.directory,
        pseudonymizer,
        eps_ms=int(settings.clock_skew_s * 1000),
    )


@dataclass
class IngestReport:
    """What an import accepted and what it skipped (file:line and why)."""

    files: int = 0
    accepted: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class PurgeReport:
    cutoff_ms: int
    sessions: int
    block_events: int
    journal_files: int


class NetworkService:
    """Resolution over the durable journal: every call first catches up with new records."""

    def __init__(
        self,
        load_config: Callable[[], NetworkConfig],
        journal: BindingJournal,
        pseudonymizer: Pseudonymizer,
        settings: ResolverSettings,
        new_block_base: Callable[[int], BlockBase] | None = None,
        compact_min_keys: int = COMPACT_MIN_KEYS,
        catch_up_every_s: float = CATCH_UP_EVERY_S,
        run_merge: Callable[[Callable[[], None]], None] = in_background,
    ) -> None:
        """`run_merge(build)` runs a block-base rebuild: by default on a thread; calling
        `build` at once rebuilds on the request path; a test may hold it and run it later."""
        self._load_config = load_config
        self.journal = journal
        self.pseudonymizer = pseudonymizer
        self.settings = settings
        self._new_block_base = new_block_base
        self._compact_min_keys = compact_min_keys
        self._resolver: NetworkResolver | None = None
        self._lock = threading.Lock()
        self._catch_up_every_s = catch_up_every_s
        self._caught_up_at = -1e18  # time.monotonic() of the last catch-up
        self._run_merge = run_merge
        self._merge: _Merge | None = None  # the block-base rebuild under way
        self._merge_after = 0.0  # time.monotonic() before which no rebuild starts

    @property
    def resolver(self) -> NetworkResolver:
        if self._resolver is None:
            eps_ms = int(self.settings.clock_skew_s * 1000)
            base = None if self._new_block_base is None else self._new_block_base(eps_ms)
            self._resolver = build_resolver(
                self._load_config(), self.settings, self.pseudonymizer, block_base=base
            )
        return self._resolver

    def catch_up(self, *, force: bool = True) -> NetworkResolver:
        """Apply the journal's new records; start folding a grown block delta into the base,
        or swap in the base a finished rebuild made. Without `force`, skipped when the last
        catch-up is younger than `catch_up_every_s`."""
        recent = time.monotonic() - self._caught_up_at < self._catch_up_every_s
        if not force and recent and self._resolver is not None:
            return self._resolver
        with self._lock:
            r = self.resolver
            r.leases.apply_all(self.journal.read_new_accounting())
            blocks = r.blocks
            blocks.apply_all(self.journal.read_new_blocks())
            self._fold_block_delta(blocks)
            # rebuilt here, under the lock, so that lookups (outside it) only read
            r.leases.refresh()
            blocks.refresh()
            self._caught_up_at = time.monotonic()
            return r

    def _fold_block_delta(self, blocks: BlockBook) -> None:
        """(Under the lock.) Start a rebuild when the delta has grown and none is under way;
        swap in a finished one (the delta answers until then)."""
        base = blocks.base
        if self._merge is None and base is not None:
            if blocks.delta_keys < max(self._compact_min_keys, len(base) // 32):
                return
            if time.monotonic() < self._merge_after:
                return
            compaction = blocks.start_compaction()
            assert compaction is not None  # (there is a base)
            self._merge = _Merge(compaction)
            self._run_merge(self._merge.run)
        merge = self._merge
        if merge is not None and merge.done.is_set():
            self._merge = None
            try:
                rebuilt = merge.result()
            except Exception as err:
                # Nothing was swapped: base and delta answer as before. Say so, try later.
                self._merge_after = time.monotonic() + MERGE_RETRY_S
                log.error(
                    "event=block_base_rebuild_failed delta_keys=%d retry_in_s=%.0f error=%r",
                    blocks.delta_keys,
                    MERGE_RETRY_S,
                    err,
                )
                return
            # refused when a purge compacted meanwhile: the delta then starts another rebuild
            blocks.finish_compaction(merge.compaction, rebuilt)
            in_background(merge.retire)

    def resolve(self, ip: str, port: int | None, at_ms: int) -> Resolution:
        """InvalidInput for a malformed address; otherwise always an answer."""
        return self.catch_up(force=False).resolve(ip, port, at_ms)

    def ingest(self, paths: Iterable[Path], reader: NetworkLogReader) -> IngestReport:
        """Parse files, keep every good record durably, report every bad one (file:line)."""
        report = IngestReport()
        for path in paths:
            report.files += 1
            records: list[AccountingRecord] = []
            events: list[BlockEvent] = []
            for item in reader(path):
                if isinstance(item, ParseError):
                    report.errors.append(str(item))
                elif isinstance(item, AccountingRecord):
                    records.append(item)
                else:
                    events.append(item)
            self.journal.append_accounting(records)
            self.journal.append_blocks(events)
            report.accepted += len(records) + len(events)
        self.catch_up()
        return report

    def purge(self, now_ms: int) -> PurgeReport:
        """Retention: forget bindings that ended before now − retention_days."""
        cutoff = now_ms - self.settings.retention_days * DAY_MS
        r = self.catch_up()
        with self._lock:
            return PurgeReport(
                cutoff_ms=cutoff,
                sessions=r.leases.purge_before(cutoff),
                block_events=r.blocks.purge_before(cutoff),
                # whole journal days beyond the window (a day file may hold a session
                # still open later: keep one extra day)
                journal_files=self.journal.purge_before(cutoff - DAY_MS),
            )


# ---------------------------------------------------------------- evaluation against truth


def evaluate_resolution(
    resolved: pa.Table, truth_hits: pa.Table, pseudonymizer: Pseudonymizer
) -> dict[str, float]:
    """Accuracy of RESOLVED_HITS against HITS_TRUTH (ids compared as pseudonyms).

    precision: resolved hits whose household (household level) or line (line level) is
    the true one, over all resolved hits; recall: attributable hits resolved correctly,
    over attributable hits; unattributable_resolved_share: hits the logs cannot support
    that were resolved anyway; household_accuracy: resolved hits with the true household.
    """
    t = truth_hits.select(["hit_id", "true_line_id", "true_household_id", "attributable_level"])
    r = resolved.select(["hit_id", "level", "line_id", "household_id"])
    joined = r.join(t, "hit_id", join_type="inner").to_pydict()
    memo_l: dict[str, str] = {}
    memo_h: dict[str, str] = {}

    def pl(raw: str | None) -> str | None:
        if raw is None:
            return None
        if raw not in memo_l:
            memo_l[raw] = pseudonymizer.pseudonym(IdKind.LINE, raw)
        return memo_l[raw]

    def ph(raw: str | None) -> str | None:
        if raw is None:
            return None
        if raw not in memo_h:
            memo_h[raw] = pseudonymizer.pseudonym(IdKind.HOUSEHOLD, raw)
        return memo_h[raw]

    n_resolved = correct = attributable = recalled = unattr = unattr_resolved = hh_ok = 0
    for level, line, hh, true_line, true_hh, attr in zip(
        joined["level"],
        joined["line_id"],
        joined["household_id"],
        joined["true_line_id"],
        joined["true_household_id"],
        joined["attributable_level"],
        strict=True,
    ):
        is_resolved = level != Level.UNKNOWN
        hh_match = hh is not None and hh == ph(true_hh)
        ok = is_resolved and (
            (level == Level.LINE and line is not None and line == pl(true_line))
            or (level == Level.HOUSEHOLD and hh_match)
        )
        if is_resolved:
            n_resolved += 1
            correct += ok
            hh_ok += hh_match
        if attr in ("line", "household"):
            attributable += 1
            recalled += ok
        else:
            unattr += 1
            unattr_resolved += is_resolved
    return {
        "resolution.precision": correct / n_resolved if n_resolved else 1.0,
        "resolution.recall": recalled / attributable if attributable else 1.0,
        "resolution.unattributable_resolved_share": unattr_resolved / unattr if unattr else 0.0,
        "resolution.household_accuracy": hh_ok / n_resolved if n_resolved else 1.0,
        "resolution.resolved_hits": float(n_resolved),
        "resolution.attributable_hits": float(attributable),
    }
