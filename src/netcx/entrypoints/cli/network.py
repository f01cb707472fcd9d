"""CLI commands of the network area: ingest logs, resolve an address, run the RADIUS listener."""

from __future__ import annotations

import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import msgspec
import typer

from netcx.config import Settings, StorageSettings, load_settings
from netcx.errors import InvalidInput

DataOpt = Annotated[
    Path | None, typer.Option("--data", help="Data directory (default: settings.storage.data_dir).")
]


def _settings(data: Path | None, **overrides: object) -> Settings:
    base = load_settings()
    if data is not None:
        overrides["storage"] = StorageSettings(backend=base.storage.backend, data_dir=data)
    return base.model_copy(update=overrides) if overrides else base


def parse_at(text: str | None, *, now_ms: int) -> int:
    """ISO 8601 → epoch ms (a time without zone is UTC); None → now."""
    if text is None:
        return now_ms
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise InvalidInput(f"{text!r} is not an ISO 8601 time", field="at") from err
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def import_world(world: Path, settings: Settings) -> str:
    """Load a world folder's network side into the data dir (once per world: a marker file
    remembers which world was imported). Returns a one-line summary."""
    from netcx.adapters.storage.bindings_config import import_world_config
    from netcx.bootstrap import build_container, network_dir

    marker = network_dir(settings) / "imported_world"
    if marker.is_file() and marker.read_text() == str(world.resolve()):
        return f"world {world}: already imported"
    import_world_config(world, network_dir(settings))
    c = build_container(settings)
    net = world / "network"
    r = c.network.ingest(sorted((net / "radius").glob("detail-*.log")), c.read_radius_log)
    cgnat = sorted(p for p in (net / "cgnat").glob("*") if p.suffix in (".log", ".ipfix"))
    b = c.network.ingest(cgnat, c.read_cgnat_log)
    for err in [*r.errors, *b.errors]:
        typer.echo(f"skipped {err}", err=True)
    marker.write_text(str(world.resolve()))
    return f"world: {r.accepted} RADIUS records, {b.accepted} port-block events"


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    ingest = typer.Typer(help="Import network logs into the binding journal.", no_args_is_help=True)
    app.add_typer(ingest, name="ingest")

    def _run_ingest(kind: str, files: list[Path], data: Path | None) -> None:
        from netcx.bootstrap import build_container

        c = build_container(_settings(data))
        reader = c.read_radius_log if kind == "radius" else c.read_cgnat_log
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise InvalidInput(f"{missing[0]}: no such file", field="FILE")
        report = c.network.ingest(files, reader)
        for err in report.errors:
            typer.echo(f"skipped {err}", err=True)
        typer.echo(
            f"{kind}: {report.accepted} records from {report.files} file(s), "
            f"{len(report.errors)} skipped"
        )

    @ingest.command("radius")
    def ingest_radius(
        files: Annotated[list[Path], typer.Argument(help="FreeRADIUS detail files (or .parquet).")],
        data: DataOpt = None,
    ) -> None:
        """Import RADIUS accounting records; bad records are reported (file:line) and skipped."""
        _run_ingest("radius", files, data)

    @ingest.command("cgnat")
    def ingest_cgnat(
        files: Annotated[list[Path], typer.Argument(help="CGNAT syslog files or .ipfix captures.")],
        data: DataOpt = None,
    ) -> None:
        """Import CGNAT port-block events (vendor format detected per line)."""
        _run_ingest("cgnat", files, data)

    @ingest.command("world")
    def ingest_world(
        world: Annotated[Path, typer.Argument(help="A world folder (netcx simulate --out).")],
        data: DataOpt = None,
    ) -> None:
        """Copy a world's address plan, NAT config and CRM lines, then import its raw logs."""
        typer.echo(import_world(world, _settings(data)))

    @app.command()
    def resolve(
        ip: Annotated[str, typer.Option(help="Public source address (IPv4 or IPv6).")],
        port: Annotated[
            int | None, typer.Option(min=0, max=65535, help="Source port, if known.")
        ] = None,
        at: Annotated[str | None, typer.Option(help="ISO 8601 time (default: now).")] = None,
        data: DataOpt = None,
    ) -> None:
        """Which line held IP[:PORT] at AT? Prints the Resolution as JSON."""
        from netcx.bootstrap import build_container, now_ms

        c = build_container(_settings(data))
        at_ms = parse_at(at, now_ms=now_ms())
        res = c.network.resolve(ip, port, at_ms)
        typer.echo(msgspec.json.encode(res).decode())

    @app.command("bindings-purge")
    def bindings_purge(data: DataOpt = None) -> None:
        """Retention: forget bindings older than resolver.retention_days."""
        from netcx.bootstrap import build_container, now_ms

        c = build_container(_settings(data))
        rep = c.network.purge(now_ms())
        typer.echo(msgspec.json.encode(rep.__dict__).decode())

    @app.command()
    def radius(
        host: Annotated[str | None, typer.Option(help="Address to bind.")] = None,
        port: Annotated[int | None, typer.Option(help="UDP port (default 1813).")] = None,
        secret: Annotated[
            str | None, typer.Option(help="Default shared secret (loopback NASes only).")
        ] = None,
        data: DataOpt = None,
    ) -> None:
        """Run the RADIUS accounting listener in the foreground (Ctrl-C stops it)."""
        from pydantic import SecretStr

        from netcx.bootstrap import build_radius_listener

        settings = _settings(data)
        if secret is not None:
            settings = settings.model_copy(
                update={"radius": settings.radius.model_copy(update={"secret": SecretStr(secret)})}
            )
        listener = build_radius_listener(settings, host=host, port=port)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        typer.echo(f"radius accounting listener on {listener.address[0]}:{listener.address[1]}")
        sys.stdout.flush()
        try:
            listener.serve(stop)
        except KeyboardInterrupt:
            stop.set()
        except OSError as err:  # the journal failed: nothing more was acknowledged
            typer.echo(f"error: cannot store accounting records ({err}); stopped", err=True)
            raise typer.Exit(1) from err
        typer.echo(msgspec.json.encode(listener.stats.snapshot()).decode())
