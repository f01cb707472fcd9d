"""CLI of the scale-out area: `netcx db migrate`,
`netcx bus forward|resolve|intents|triggers|load-bindings`, `netcx batch bindings|resolve`."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Annotated, Protocol, TypeVar

import msgspec
import pyarrow.parquet as pq
import typer
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from netcx.adapters.storage.static_bindings import StaticBinding
from netcx.bootstrap import (
    build_batch_resolver,
    build_binding_hot_set,
    build_event_bus,
    build_forwarder,
    build_intent_service,
    build_online_state,
    build_postgres,
    build_pseudonymizer,
    build_trigger_bus,
    build_trigger_delivery,
)
from netcx.config import BusSettings, Settings, load_settings
from netcx.entrypoints.cli import stop_on_signals
from netcx.errors import InvalidInput, NotFound, Unavailable
from netcx.ports import BusConsumer, TriggerConsumer
from netcx.services.bus_workers import (
    BusIntentScorer,
    Polling,
    WorkerStatus,
    run_intent_worker,
    run_resolve_worker,
    run_trigger_worker,
)

DataOption = Annotated[Path, typer.Option(help="Data directory of `netcx serve` (its events/).")]
GroupOption = Annotated[str, typer.Option(help="Consumer group.")]
MemberOption = Annotated[
    str | None, typer.Option(help="This worker's name in the group (default host-pid).")
]
MetricsPortOption = Annotated[
    int | None, typer.Option(help="Serve Prometheus metrics on this port.")
]
MetricsHostOption = Annotated[str, typer.Option(help="Address for the metrics.")]


class _Closing(Protocol):
    async def close(self) -> None: ...


_C = TypeVar("_C", bound=_Closing)
_C_co = TypeVar("_C_co", bound=_Closing, covariant=True)


class _Bus(Protocol[_C_co]):
    """An EventBus or a TriggerBus: what a worker joins a group of."""

    def consumer(self, group: str, member: str) -> _C_co: ...

    async def close(self) -> None: ...


def _polling(bus: BusSettings, batch_size: int | None = None) -> Polling:
    """The configured polling (`batch_size` overrides the bus setting: triggers' own)."""
    return Polling(
        batch_size=bus.batch_size if batch_size is None else batch_size,
        poll_ms=bus.poll_interval_ms,
    )


def _run_bus_worker(
    settings: Settings,
    group: str,
    member: str | None,
    metrics: tuple[str, int | None],
    status: WorkerStatus,
    work: Callable[[_C, asyncio.Event], Awaitable[None]],
    open_bus: Callable[[Settings], _Bus[_C]],
) -> None:
    """Join `group` of the bus `open_bus` builds as `member` (default host-pid), serve the
    status as Prometheus metrics when a port is given, and run `work` until SIGTERM/SIGINT;
    the consumer and bus are closed however it ends."""
    host, port = metrics
    if port is not None:
        registry = CollectorRegistry()
        registry.register(_WorkerMetrics(status))
        start_http_server(port, addr=host, registry=registry)

    async def run() -> None:
        event_bus = open_bus(settings)
        consumer = event_bus.consumer(group, member or f"{socket.gethostname()}-{os.getpid()}")
        try:
            await work(consumer, stop_on_signals())
        finally:
            await consumer.close()
            await event_bus.close()

    asyncio.run(run())


class _WorkerMetrics(Collector):
    """Prometheus view of a worker's status, read at scrape time."""

    def __init__(self, status: WorkerStatus) -> None:
        self._status = status

    def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        s = self._status
        up = GaugeMetricFamily(
            "netcx_online_state_up", "1 when the online state (Redis) answers, 0 when degraded"
        )
        up.add_metric([], 1.0 if s.online_state == "ok" else 0.0)
        yield up
        bus_up = GaugeMetricFamily("netcx_bus_up", "1 when the event bus answers, 0 when not")
        bus_up.add_metric([], 1.0 if s.bus == "ok" else 0.0)
        yield bus_up
        yield CounterMetricFamily(
            "netcx_bus_events_resolved", "Distinct events resolved", value=s.events_resolved
        )
        yield CounterMetricFamily(
            "netcx_bus_redeliveries", "Events delivered again and skipped", value=s.redeliveries
        )
        yield CounterMetricFamily(
            "netcx_resolve_degraded_answers",
            "Resolutions answered unknown because the online state was unreachable",
            value=s.degraded_answers,
        )
        yield CounterMetricFamily(
            "netcx_bus_events_scored",
            "Distinct events scored into the intent state (bus intents)",
            value=s.events_scored,
        )
        for name, value, what in (
            ("delivered", s.triggers_delivered, "acknowledged by the receiver"),
            ("dead_lettered", s.triggers_dead_lettered, "dead-lettered after every attempt"),
            ("malformed", s.triggers_malformed, "records that were no trigger (dead-lettered)"),
        ):
            yield CounterMetricFamily(
                f"netcx_bus_triggers_{name}", f"Triggers {what} (bus triggers)", value=value
            )


def register(app: typer.Typer) -> None:
    """Add `netcx db ...` and `netcx bus ...` to the main app."""
    db = typer.Typer(help="The PostgreSQL durable stores.", no_args_is_help=True)
    app.add_typer(db, name="db")

    @db.command("migrate")
    def migrate() -> None:
        """Apply pending schema migrations to `scale.postgres.url` (safe to run concurrently)."""
        pg = build_postgres(load_settings())
        try:
            applied = pg.migrate()
            done = ",".join(map(str, applied)) or "-"
            typer.echo(f"applied={done} schema_version={pg.schema_version()}")
        finally:
            pg.close()

    bus = typer.Typer(help="Forward collected events to the bus and run bus workers.")
    app.add_typer(bus, name="bus")

    @bus.command("forward")
    def forward(
        data: DataOption = Path("data"),
        once: Annotated[bool, typer.Option(help="Drain what is there now, then exit.")] = False,
    ) -> None:
        """Drain the collector's durable event log to `scale.bus` (until SIGTERM)."""
        if not data.is_dir():
            raise NotFound(f"--data {data}: no such directory")
        settings = load_settings()
        settings.storage.data_dir = data
        forwarder = build_forwarder(settings, build_pseudonymizer(settings))

        async def run() -> None:
            try:
                if once:
                    if not forwarder.take_lock():
                        raise Unavailable(
                            f"--data {data}: another forwarder (netcx serve or bus forward) "
                            "is running on it"
                        )
                    await forwarder.drain_once()
                else:
                    poll_s = settings.scale.bus.poll_interval_ms / 1000
                    await forwarder.run(stop_on_signals(), poll_s)
            finally:
                await forwarder.close()
            typer.echo(f"forwarded={forwarder.forwarded}")

        asyncio.run(run())

    @bus.command("lag")
    def lag(data: DataOption = Path("data")) -> None:
        """How much of the collector's durable log is not yet on the bus (JSON)."""
        if not data.is_dir():
            raise NotFound(f"--data {data}: no such directory")
        from netcx.adapters.bus.forwarder import unforwarded_bytes

        typer.echo(json.dumps({"lag_bytes": unforwarded_bytes(data / "events")}))

    @bus.command("resolve")
    def resolve(
        group: GroupOption = "resolve",
        member: MemberOption = None,
        metrics_port: MetricsPortOption = None,
        metrics_host: MetricsHostOption = "127.0.0.1",
    ) -> None:
        """Consume events in a consumer group and resolve them (until SIGTERM)."""
        settings = load_settings()
        resolver, answers = build_online_state(settings, build_pseudonymizer(settings))
        status = WorkerStatus()
        polling = _polling(settings.scale.bus)

        def work(consumer: BusConsumer, stop: asyncio.Event) -> Awaitable[None]:
            return run_resolve_worker(consumer, resolver, answers, status, stop, polling)

        _run_bus_worker(
            settings, group, member, (metrics_host, metrics_port), status, work, build_event_bus
        )
        typer.echo(f"resolved={status.events_resolved} redeliveries={status.redeliveries}")

    @bus.command("intents")
    def intents(
        group: GroupOption = "intents",
        member: MemberOption = None,
        metrics_port: MetricsPortOption = None,
        metrics_host: MetricsHostOption = "127.0.0.1",
    ) -> None:
        """Consume events in their own consumer group and score them into the intent state
        (`intents.state_backend`; `redis` to share it between workers) until SIGTERM."""
        settings = load_settings()
        pseudonymizer = build_pseudonymizer(settings)
        scorer = BusIntentScorer(build_intent_service(settings), pseudonymizer.pseudonym)
        status = WorkerStatus()
        polling = _polling(settings.scale.bus)

        def work(consumer: BusConsumer, stop: asyncio.Event) -> Awaitable[None]:
            return run_intent_worker(consumer, scorer, status, stop, polling)

        _run_bus_worker(
            settings, group, member, (metrics_host, metrics_port), status, work, build_event_bus
        )
        typer.echo(
            f"scored={status.events_scored} applied={status.intent_applied} "
            f"redeliveries={status.redeliveries}"
        )

    @bus.command("triggers")
    def triggers(
        group: GroupOption = "triggers",
        member: MemberOption = None,
        batch_size: Annotated[
            int, typer.Option(min=1, help="Triggers delivered before each commit.")
        ] = 50,
        metrics_port: MetricsPortOption = None,
        metrics_host: MetricsHostOption = "127.0.0.1",
    ) -> None:
        """Consume the trigger topic (`decisions.triggers.bus`) in its own consumer group and
        deliver each trigger to the signed webhook, with retries and dead letters, until
        SIGTERM. Run `netcx serve` with `decisions.triggers.deliver_inline=false`."""
        settings = load_settings()
        delivery = build_trigger_delivery(settings)
        status = WorkerStatus()
        polling = _polling(settings.scale.bus, batch_size)

        def work(consumer: TriggerConsumer, stop: asyncio.Event) -> Awaitable[None]:
            return run_trigger_worker(consumer, delivery, status, stop, polling)

        _run_bus_worker(
            settings, group, member, (metrics_host, metrics_port), status, work, build_trigger_bus
        )
        typer.echo(
            f"delivered={status.triggers_delivered} redeliveries={status.redeliveries} "
            f"dead_lettered={status.triggers_dead_lettered} malformed={status.triggers_malformed}"
        )

    batch = typer.Typer(help="Batch jobs on DuckDB or Spark.", no_args_is_help=True)
    app.add_typer(batch, name="batch")

    @batch.command("bindings")
    def batch_bindings(
        world: Annotated[Path, typer.Option(help="World folder (its network logs and CRM).")],
        out: Annotated[Path, typer.Option(help="Bindings folder to write.")],
    ) -> None:
        """Normalise a world's RADIUS and CGNAT logs into a bindings folder for `resolve`."""
        from netcx.adapters.batch.resolve import write_bindings
        from netcx.simulate.world import WorldFolder

        if not world.is_dir():
            raise NotFound(f"--world {world}: no such folder")
        settings = load_settings()
        pseudonymizer = build_pseudonymizer(settings)
        with tempfile.TemporaryDirectory(prefix="netcx-bindings-") as tmp:
            batch = build_batch_resolver(settings, WorldFolder(world), pseudonymizer, Path(tmp))
            tables = batch.binding_tables()
            write_bindings(out, tables, batch.resolver.plan, batch.resolver.nat)
        typer.echo(json.dumps({name: t.num_rows for name, t in tables.items()}))

    @batch.command("resolve")
    def batch_resolve(
        bindings: Annotated[Path, typer.Option(help="Folder of normalised binding tables.")],
        hits: Annotated[Path, typer.Option(help="HITS Parquet file (or folder).")],
        out: Annotated[Path, typer.Option(help="RESOLVED_HITS Parquet file to write.")],
        engine: Annotated[str, typer.Option(help="duckdb | spark")] = "duckdb",
    ) -> None:
        """Resolve a table of hits against months of RADIUS/CGNAT bindings."""
        from netcx.adapters.batch.resolve import ENGINES, resolve_batch

        if engine not in ENGINES:
            raise InvalidInput(f"--engine {engine}: choose one of {', '.join(ENGINES)}")
        if not hits.exists():
            raise NotFound(f"--hits {hits}: no such file")
        settings = load_settings()
        eps_ms = int(settings.resolver.clock_skew_s * 1000)
        t0 = time.perf_counter()
        table = resolve_batch(engine, bindings, hits, eps_ms)
        elapsed_s = time.perf_counter() - t0
        out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, out)
        levels = Counter(table.column("level").to_pylist())
        typer.echo(
            json.dumps(
                {
                    "engine": engine,
                    "hits": table.num_rows,
                    "seconds": round(elapsed_s, 2),
                    "levels": dict(sorted(levels.items())),
                }
            )
        )

    @bus.command("load-bindings")
    def load_bindings(
        file: Annotated[Path, typer.Argument(help="JSON list of bindings (raw CRM ids).")],
    ) -> None:
        """Put bindings into the Redis hot set (ids are pseudonymised before storing)."""
        settings = load_settings()
        try:
            bindings = msgspec.json.decode(file.read_bytes(), type=list[StaticBinding])
        except OSError as err:
            raise NotFound(f"{file}: {err}") from err
        except (msgspec.DecodeError, msgspec.ValidationError) as err:
            raise InvalidInput(f"{file}: {err}") from err
        build_binding_hot_set(settings, build_pseudonymizer(settings)).put(bindings)
        typer.echo(json.dumps({"bindings": len(bindings)}))
