"""CLI commands of the collect area: `netcx events count|tail|lag` over the stored event log,
and `netcx events recognise`, the recognition follower."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector as PromCollector

from netcx.bootstrap import build_event_log
from netcx.config import Settings, load_settings
from netcx.domain.events import StoredEvent
from netcx.entrypoints.cli import stop_on_signals
from netcx.entrypoints.gc_policy import tune_gc
from netcx.errors import ConfigError, NotFound
from netcx.ports import EventLog
from netcx.services.collect import PENDING, count_events

if TYPE_CHECKING:
    from netcx.adapters.storage.eventlog_follower import RecognitionFollower

DataOption = Annotated[Path, typer.Option(help="Data directory of `netcx serve`.")]


def _settings_for(data: Path) -> Settings:
    """Settings for the existing data directory `data` (NotFound names it otherwise)."""
    if not data.is_dir():
        raise NotFound(f"--data {data}: no such directory")
    settings = load_settings()
    settings.storage.data_dir = data
    return settings


def _open(data: Path) -> EventLog:
    return build_event_log(_settings_for(data))


def _address_kind(item: StoredEvent) -> str:
    """Whether the event has a client address and port, never the address itself."""
    client = item.event.client
    if client is None:
        return "-"
    version = ipaddress.ip_address(client.ip).version
    return f"ipv{version}" + ("+port" if client.port is not None else "")


def _line(item: StoredEvent) -> str:
    e = item.event
    at = datetime.fromtimestamp(e.received_ms / 1000, UTC).isoformat(timespec="milliseconds")
    fields = {
        "source": e.source.value,
        "type": e.type,
        "id": e.event_id,
        "visitor": e.visitor_id,
        "user": e.user_id,
        "name": e.name,
        "url": e.url,
        "client": _address_kind(item),
        "level": item.recognition.level.value if item.recognition else PENDING,
    }
    return at + " " + " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)


class _FollowerMetrics(PromCollector):
    """Prometheus view of the recognition follower, read at scrape time."""

    def __init__(self, follower: RecognitionFollower) -> None:
        self._follower = follower

    def collect(self) -> Iterable[CounterMetricFamily | GaugeMetricFamily]:
        recognised = CounterMetricFamily(
            "netcx_follower_recognised_events",
            "Events the recognition follower recognised, by level",
            labels=["level"],
        )
        for level, n in sorted(self._follower.levels.items()):
            recognised.add_metric([level], n)
        yield recognised
        yield CounterMetricFamily(
            "netcx_follower_undecodable_records",
            "Records skipped: intact frame, payload that does not decode",
            value=self._follower.damaged,
        )
        yield GaugeMetricFamily(
            "netcx_follower_lag_bytes",
            "Bytes of the event log not recognised yet",
            value=self._follower.lag_bytes(),
        )


def register(app: typer.Typer) -> None:
    """Add `netcx events ...` to the main app."""
    events = typer.Typer(help="Read the collector's event log.", no_args_is_help=True)
    app.add_typer(events, name="events")

    @events.command("count")
    def count(
        data: DataOption = Path("data"),
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Stored events by source (segment, snowplow, tag) and by recognition level."""
        log = _open(data)
        counts = count_events(log.read())
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "total": counts.total,
                        "by_source": counts.by_source,
                        "by_level": counts.by_level,
                    }
                )
            )
            return
        typer.echo(f"events: {counts.total}")
        for source, n in counts.by_source.items():
            typer.echo(f"  source {source}: {n}")
        for level, n in counts.by_level.items():
            typer.echo(f"  level {level}: {n}")

    @events.command("tail")
    def tail(
        data: DataOption = Path("data"),
        lines: Annotated[int, typer.Option("-n", "--lines", min=1, help="How many.")] = 20,
    ) -> None:
        """The most recent events, one per line (client addresses are never printed)."""
        recent = list(_open(data).read())[-lines:]
        for item in recent:
            typer.echo(_line(item))

    @events.command("recognise")
    def recognise(
        data: DataOption = Path("data"),
        once: Annotated[
            bool, typer.Option("--once", help="Recognise what is stored now, then exit.")
        ] = False,
        metrics_port: Annotated[
            int | None,
            typer.Option(
                min=1,
                max=65535,
                help="Serve Prometheus metrics here (default collect.follower_metrics_port).",
            ),
        ] = None,
    ) -> None:
        """The recognition follower (collect.recognition=follower): recognise each stored
        event once, in groups, as the only writer of the recognition stores. `netcx serve`
        starts it; run it yourself to catch up (--once) or beside a serve that does not."""
        from netcx.bootstrap import build_recognition_follower

        settings = _settings_for(data)
        if settings.collect.event_log != "segments":
            raise ConfigError("netcx events recognise follows the segment log (collect.event_log)")
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
        logging.getLogger("netcx.collect.follower").setLevel(logging.INFO)
        follower = build_recognition_follower(settings)
        port = metrics_port or settings.collect.follower_metrics_port
        if port is not None and not once:
            registry = CollectorRegistry()
            registry.register(_FollowerMetrics(follower))
            start_http_server(port, addr=settings.collect.follower_metrics_host, registry=registry)
        tune_gc()

        async def run() -> None:
            if once:
                if not follower.take_lock():
                    raise ConfigError(
                        f"--data {data}: another recognition follower (netcx serve or "
                        "netcx events recognise) is running; --once would race it"
                    )
                while await follower.drain_once():
                    pass
                return
            await follower.run(stop_on_signals(), settings.collect.follower_poll_ms / 1000)

        try:
            asyncio.run(run())
        finally:
            follower.close()
        levels = " ".join(f"{k}={v}" for k, v in sorted(follower.levels.items()))
        typer.echo(f"recognised={follower.recognised}" + (f" {levels}" if levels else ""))

    @events.command("lag")
    def lag(data: DataOption = Path("data")) -> None:
        """Bytes of the log the recognition follower has not handled yet (JSON)."""
        from netcx.adapters.storage.eventlog_follower import unrecognised_bytes

        if not data.is_dir():
            raise NotFound(f"--data {data}: no such directory")
        typer.echo(json.dumps({"unrecognised_bytes": unrecognised_bytes(data / "events")}))
