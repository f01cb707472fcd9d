"""CLI commands of the collect area: `netcx events count|tail` over the stored event log."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from netcx.bootstrap import build_event_log
from netcx.config import load_settings
from netcx.domain.events import StoredEvent
from netcx.errors import NotFound
from netcx.ports import EventLog
from netcx.services.collect import PENDING, count_events

DataOption = Annotated[Path, typer.Option(help="Data directory of `netcx serve`.")]


def _open(data: Path) -> EventLog:
    if not data.is_dir():
        raise NotFound(f"--data {data}: no such directory")
    settings = load_settings()
    settings.storage.data_dir = data
    return build_event_log(settings)


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
