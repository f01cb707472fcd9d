"""NetworkService over a real journal: ingest files, resolve, retention purge."""

from __future__ import annotations

from pathlib import Path

from netcx.adapters.cgnat.files import read_cgnat_file
from netcx.adapters.radius.detail import read_radius_file
from netcx.adapters.storage.bindings_journal import FileJournal
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


def service(tmp: Path) -> NetworkService:
    config = NetworkConfig(
        AddressPlan.from_json(PLAN), DeterministicNat.from_json(DET_NAT), LineDirectory(LINES)
    )
    return NetworkService(
        lambda: config,
        FileJournal(tmp / "journal"),
        Pseudonymizer({"k1": b"k"}, "k1"),
        ResolverSettings(retention_days=30),
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
