"""NetworkService over a real journal: ingest files, resolve, retention purge."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from netcx.adapters.cgnat.files import read_cgnat_file
from netcx.adapters.radius.detail import read_radius_file
from netcx.adapters.storage.bindings_journal import FileJournal
from netcx.adapters.storage.bindings_packed import PackedBlockBase
from netcx.config import ResolverSettings
from netcx.domain.network.config import NetworkConfig
from netcx.domain.network.deterministic import DeterministicNat
from netcx.domain.network.directory import LineDirectory
from netcx.domain.network.plan import AddressPlan
from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.services.network import NetworkService

from .conftest import DET_NAT, LINES, PLAN

DETAIL = """\
Mon Jun 10 06:13:20 2024
\tAcct-Status-Type = Start
\tAcct-Session-Id = "F1"
\tUser-Name = "line-0042@isp.example"
\tNAS-IP-Address = 192.0.2.10
\tFramed-IP-Address = 198.18.0.7
\tEvent-Timestamp = 1718000000

Mon Jun 10 06:14:00 2024
\tbroken
"""


def service(
    tmp: Path,
    packed: bool = False,
    catch_up_every_s: float = 0.005,
    run_merge: Callable[[Callable[[], None]], None] = lambda build: build(),
    base_type: type[PackedBlockBase] = PackedBlockBase,
) -> NetworkService:
    """With `packed`, port blocks are kept as `netcx serve` keeps them (packed base +
    delta), compacted at every catch-up that brought a block event (by default on the
    spot, so that the base is there when the catch-up returns)."""
    config = NetworkConfig(
        AddressPlan.from_json(PLAN), DeterministicNat.from_json(DET_NAT), LineDirectory(LINES)
    )
    return NetworkService(
        lambda: config,
        FileJournal(tmp / "journal"),
        Pseudonymizer({"k1": b"k"}, "k1"),
        ResolverSettings(retention_days=30),
        new_block_base=base_type.empty if packed else None,
        compact_min_keys=1,
        catch_up_every_s=catch_up_every_s,
        run_merge=run_merge,
    )


def test_ingest_resolve_and_purge(tmp_path: Path) -> None:
    (tmp_path / "detail.log").write_text(DETAIL)
    (tmp_path / "cgn.log").write_text("nonsense\n")
    svc = service(tmp_path)
    rep = svc.ingest([tmp_path / "detail.log"], read_radius_file)
    assert (rep.accepted, rep.errors) == (1, ["detail.log:10: expected 'Attribute = value'"])
    assert svc.ingest([tmp_path / "cgn.log"], read_cgnat_file).errors == [
        "cgn.log:1: no known port-block log format"
    ]
    res = svc.resolve("198.18.0.7", None, 1718000000_000 + 60_000)
    assert res.household_id == Pseudonymizer({"k1": b"k"}, "k1").pseudonym(IdKind.HOUSEHOLD, "H-1")
    # a second service (another process) over the same journal sees the same bindings
    assert service(tmp_path).resolve("198.18.0.7", None, 1718000000_000 + 60_000) == res
    # 30-day retention, 60 days later: the lease (inferred end after 30 min) is gone
    rep2 = svc.purge(1718000000_000 + 60 * 86_400_000)
    assert rep2.sessions == 1 and rep2.journal_files == 1
    assert svc.resolve("198.18.0.7", None, 1718000000_000 + 60_000).reason == "no_lease"


MOBILE_STARTS = """\
Mon Jun 10 06:13:20 2024
\tAcct-Status-Type = Start
\tAcct-Session-Id = "M1"
\tCalling-Station-Id = "447700900123"
\tNAS-IP-Address = 192.0.2.20
\tFramed-IP-Address = 100.64.12.34
\tEvent-Timestamp = 1718000000

Mon Jun 10 06:13:20 2024
\tAcct-Status-Type = Start
\tAcct-Session-Id = "M2"
\tCalling-Station-Id = "447700900456"
\tNAS-IP-Address = 192.0.2.20
\tFramed-IP-Address = 100.64.12.35
\tEvent-Timestamp = 1718000000

"""


def srx(kind: str, at: str, inside: str) -> str:
    return (
        f"<14>1 2024-06-10T{at}.000Z srx-cgn1 RT_NAT - RT_SRC_NAT_PBA_{kind} "
        f'[junos@2636.1.1.1.2.40 internal-ip="{inside}" block-used="1" '
        'block-max-per-host="8" block-port-low="27232" block-port-high="27359" '
        'reflexive-ip="203.0.113.10" nat-pool-name="cgn-pool" logical-system-id="0"]\n'
    )


def test_live_block_events_after_a_compaction_are_visible(tmp_path: Path) -> None:
    """The served resolver keeps port blocks packed; a block event arriving after the
    compaction changes the answer, exactly as with plain timelines."""
    (tmp_path / "detail.log").write_text(MOBILE_STARTS)
    (tmp_path / "cgn-1.log").write_text(srx("ALLOC", "06:13:20", "100.64.12.34"))
    (tmp_path / "cgn-2.log").write_text(
        srx("RELEASE", "06:20:00", "100.64.12.34") + srx("ALLOC", "06:20:00", "100.64.12.35")
    )
    live = service(tmp_path / "live", packed=True)
    plain = service(tmp_path / "plain")
    p = Pseudonymizer({"k1": b"k"}, "k1")
    before, after = 1718000000_000 + 60_000, 1718000000_000 + 8 * 60_000
    for svc in (live, plain):
        svc.ingest([tmp_path / "detail.log"], read_radius_file)
        svc.ingest([tmp_path / "cgn-1.log"], read_cgnat_file)
    res = live.resolve("203.0.113.10", 27300, before)
    assert res.line_id == p.pseudonym(IdKind.LINE, "L-mob-1")
    assert [e.kind for e in res.evidence] == ["port_block", "radius_session"]
    base = live.resolver.blocks.base
    assert base is not None and len(base) == 1  # answered from the packed base
    for svc in (live, plain):
        svc.ingest([tmp_path / "cgn-2.log"], read_cgnat_file)
    assert live.resolve("203.0.113.10", 27300, after).line_id == p.pseudonym(IdKind.LINE, "L-mob-2")
    base = live.resolver.blocks.base
    assert base is not None and len(base) == 2
    for t in (before, after, after + 3_000_000):
        assert live.resolve("203.0.113.10", 27300, t) == plain.resolve("203.0.113.10", 27300, t)


def test_a_background_merge_never_hides_a_binding(tmp_path: Path) -> None:
    """The packed base is rebuilt on another thread: while it builds, lookups answer from
    the delta (events arriving meanwhile included); the catch-up after it ends swaps it in,
    and the events that arrived during the build still shadow it. Every answer equals the
    plain timelines' at every step."""
    (tmp_path / "detail.log").write_text(MOBILE_STARTS)
    (tmp_path / "cgn-1.log").write_text(srx("ALLOC", "06:13:20", "100.64.12.34"))
    (tmp_path / "cgn-2.log").write_text(
        srx("RELEASE", "06:20:00", "100.64.12.34") + srx("ALLOC", "06:20:00", "100.64.12.35")
    )
    may_build: list[threading.Event] = []
    threads: list[threading.Thread] = []

    def held_thread(build: Callable[[], None]) -> None:
        """Each rebuild on its own thread, waiting until the test lets it build."""
        gate = threading.Event()

        def run() -> None:
            assert gate.wait(30)
            build()

        may_build.append(gate)
        threads.append(threading.Thread(target=run, daemon=True))
        threads[-1].start()

    def build(n: int) -> None:
        may_build[n].set()
        threads[n].join()

    live = service(tmp_path / "live", packed=True, catch_up_every_s=0, run_merge=held_thread)
    plain = service(tmp_path / "plain")
    times = [1718000000_000 + m * 60_000 for m in (-1, 1, 8, 60)]

    def same_answers() -> None:
        for t in times:
            assert live.resolve("203.0.113.10", 27300, t) == plain.resolve("203.0.113.10", 27300, t)

    for svc in (live, plain):
        svc.ingest([tmp_path / "detail.log"], read_radius_file)
        svc.ingest([tmp_path / "cgn-1.log"], read_cgnat_file)  # starts the rebuild
    blocks = live.resolver.blocks
    assert len(threads) == 1 and blocks.base is not None and len(blocks.base) == 0
    same_answers()  # from the delta
    for svc in (live, plain):
        svc.ingest([tmp_path / "cgn-2.log"], read_cgnat_file)  # during the build
    same_answers()
    build(0)
    same_answers()  # the first of these swapped the new base in
    assert len(threads) == 2  # ... and the delta left (cgn-2's key) started the next one
    assert len(blocks.base) == 1 and blocks.delta_keys == 1
    build(1)
    same_answers()
    assert len(blocks.base) == 2 and blocks.delta_keys == 0


def test_a_failed_rebuild_is_logged_and_retried_later_while_the_delta_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A rebuild that fails on its thread is not lost silently: the catch-up that finds it
    logs the error and answers from base + delta as before; the next rebuild starts only
    after the back-off."""

    class BrokenBase(PackedBlockBase):
        def merged(self, *args: Any, **kwargs: Any) -> PackedBlockBase:
            _, delta, _ = args  # (changed keys, delta timelines, port_hi)
            if not delta:  # (the start-up merge of nothing)
                return self
            raise MemoryError("no room for the new base")

    (tmp_path / "detail.log").write_text(MOBILE_STARTS)
    (tmp_path / "cgn-1.log").write_text(srx("ALLOC", "06:13:20", "100.64.12.34"))
    held: list[Callable[[], None]] = []
    live = service(
        tmp_path, packed=True, catch_up_every_s=0, run_merge=held.append, base_type=BrokenBase
    )
    live.ingest([tmp_path / "detail.log"], read_radius_file)
    live.ingest([tmp_path / "cgn-1.log"], read_cgnat_file)  # starts the rebuild
    at = 1718000000_000 + 60_000
    line = Pseudonymizer({"k1": b"k"}, "k1").pseudonym(IdKind.LINE, "L-mob-1")
    assert live.resolve("203.0.113.10", 27300, at).line_id == line
    held.pop()()  # the rebuild fails on "its thread"
    with caplog.at_level(logging.ERROR, logger="netcx.network"):
        assert live.resolve("203.0.113.10", 27300, at).line_id == line
    assert "event=block_base_rebuild_failed" in caplog.text and "no room" in caplog.text
    assert "203.0.113.10" not in caplog.text
    live.ingest([tmp_path / "cgn-1.log"], read_cgnat_file)  # the delta is still large
    assert held == []  # within the back-off: no new rebuild
    live._merge_after = 0.0  # (the back-off has passed)
    live.ingest([tmp_path / "cgn-1.log"], read_cgnat_file)
    assert len(held) == 1  # retried
    assert live.resolve("203.0.113.10", 27300, at).line_id == line


def test_resolutions_in_a_row_read_the_journal_at_most_once_per_interval(
    tmp_path: Path,
) -> None:
    """Each catch-up lists both journal folders: resolutions within `catch_up_every_s` of
    one share it; after the interval (or `ingest`, which forces one) new records count."""
    (tmp_path / "detail.log").write_text(DETAIL)
    at = 1718000000_000 + 60_000
    reader = service(tmp_path, catch_up_every_s=0.5)
    assert reader.resolve("198.18.0.7", None, at).reason == "no_lease"  # caught up: empty
    service(tmp_path).ingest([tmp_path / "detail.log"], read_radius_file)  # another process
    assert reader.resolve("198.18.0.7", None, at).reason == "no_lease"  # within the interval
    time.sleep(0.5)
    assert reader.resolve("198.18.0.7", None, at).household_id is not None
