"""The composition root: builds adapters and services from Settings (and nothing else does)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from netcx.adapters.cgnat.files import read_cgnat_file
from netcx.adapters.radius.detail import read_radius_file
from netcx.adapters.radius.listener import AccountingListener
from netcx.adapters.storage.bindings_audit import FileResolveAudit
from netcx.adapters.storage.bindings_config import lines_from_table, load_network_config
from netcx.adapters.storage.bindings_duckdb import DuckDbBatchResolver
from netcx.adapters.storage.bindings_journal import FileJournal
from netcx.config import Settings
from netcx.domain.network.config import NetworkConfig
from netcx.domain.network.deterministic import DeterministicNat
from netcx.domain.network.directory import LineDirectory
from netcx.domain.network.plan import AddressPlan
from netcx.domain.network.records import AccountingRecord, BlockEvent
from netcx.domain.pseudonyms import Pseudonymizer
from netcx.errors import ParseError
from netcx.ports import (
    BatchResolver,
    NetworkLogReader,
    ResolveAudit,
    ResolveConsentGate,
    World,
)
from netcx.services.network import NetworkService, build_resolver

log = logging.getLogger("netcx.bootstrap")


@dataclass
class Container:
    """Everything an entrypoint needs, built once per process."""

    settings: Settings
    pseudonymizer: Pseudonymizer

    # ------------------------------------------------------------ network identity
    network: NetworkService = field(init=False)
    read_radius_log: NetworkLogReader = field(init=False)
    read_cgnat_log: NetworkLogReader = field(init=False)
    resolve_audit: ResolveAudit = field(init=False)
    # Hook for the consent helper: set it to gate /v1/resolve answers by purpose.
    resolve_consent_gate: ResolveConsentGate | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.network = build_network_service(self.settings, self.pseudonymizer)
        self.read_radius_log = read_radius_file
        self.read_cgnat_log = read_cgnat_file
        self.resolve_audit = FileResolveAudit(self.settings.storage.data_dir / "audit" / "resolve")

    # ------------------------------------------------------------ collector, identity, consent

    # ------------------------------------------------------------ intents

    # ------------------------------------------------------------ decisions and triggers


def build_pseudonymizer(settings: Settings) -> Pseudonymizer:
    keys = {v: k.get_secret_value().encode() for v, k in settings.pseudonyms.keys.items()}
    return Pseudonymizer(keys, settings.pseudonyms.current)


def build_container(settings: Settings) -> Container:
    """Build the object graph for `settings` (backends chosen by name in config)."""
    return Container(settings=settings, pseudonymizer=build_pseudonymizer(settings))


# ---------------------------------------------------------------- network identity


def network_dir(settings: Settings) -> Path:
    return settings.storage.data_dir / "network"


def build_network_service(settings: Settings, pseudonymizer: Pseudonymizer) -> NetworkService:
    """Resolver over the data dir's config and journal (loaded on first use)."""
    root = network_dir(settings)
    journal = FileJournal(root, fsync=settings.radius.fsync)
    return NetworkService(
        lambda: load_network_config(root), journal, pseudonymizer, settings.resolver
    )


def build_radius_listener(
    settings: Settings, *, host: str | None = None, port: int | None = None
) -> AccountingListener:
    """The UDP accounting listener writing to the data dir's journal (binds now)."""
    root = network_dir(settings)
    root.mkdir(parents=True, exist_ok=True)
    names: dict[str, str] = {}
    plan_path = root / "address_plan.json"
    if plan_path.is_file():
        plan = AddressPlan.from_json(plan_path.read_bytes())
        names = {n.nas_ip: n.nas_identifier for n in plan.nas if n.nas_identifier}
    radius = settings.radius
    return AccountingListener(
        host or radius.host,
        radius.port if port is None else port,
        FileJournal(root, fsync=radius.fsync),
        nas_secrets={ip: s.get_secret_value().encode() for ip, s in radius.nas_secrets.items()},
        default_secret=radius.secret.get_secret_value().encode() if radius.secret else None,
        nas_names=names,
        stats_file=root / "radius_stats.json",
    )


def build_batch_resolver(
    settings: Settings, world: World, pseudonymizer: Pseudonymizer, work_dir: Path
) -> BatchResolver:
    """Batch resolver for a world folder: parses its raw RADIUS detail files and CGNAT logs
    (bad lines are counted and skipped), reads plan + NAT config + CRM lines, and resolves
    hits with DuckDB ASOF joins."""
    net = world.path / "network"
    plan = AddressPlan.from_json((net / "address_plan.json").read_bytes())
    nat_path = net / "deterministic_nat.json"
    nat = (
        DeterministicNat.from_json(nat_path.read_bytes())
        if nat_path.is_file()
        else DeterministicNat([])
    )
    directory = LineDirectory(lines_from_table(world.table("crm/lines")))
    config = NetworkConfig(plan, nat, directory)
    records: list[AccountingRecord] = []
    events: list[BlockEvent] = []
    errors: list[ParseError] = []
    logs: list[tuple[NetworkLogReader, Path]] = [
        *((read_radius_file, p) for p in sorted((net / "radius").glob("detail-*.log"))),
        *(
            (read_cgnat_file, p)
            for p in sorted((net / "cgnat").glob("*"))
            if p.suffix in (".log", ".ipfix")
        ),
    ]
    for reader, path in logs:
        for item in reader(path):
            if isinstance(item, ParseError):
                errors.append(item)
            elif isinstance(item, AccountingRecord):
                records.append(item)
            else:
                events.append(item)
    if errors:
        log.warning(
            "network.batch_ingest skipped=%d first=%s:%d",
            len(errors),
            errors[0].source,
            errors[0].line_no,
        )
    resolver = build_resolver(config, settings.resolver, pseudonymizer, records, events)
    return DuckDbBatchResolver(resolver, work_dir, settings.resolver.batch_memory_limit)
