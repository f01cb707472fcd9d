"""`netcx serve`: the HTTP service (granian + Starlette) on the embedded store."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from netcx.config import Settings
from netcx.errors import NotFound


def register(app: typer.Typer) -> None:
    """Add `serve` to the main app."""

    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="HTTP port.")] = 8080,
        data: Annotated[Path, typer.Option(help="Embedded store directory.")] = Path("data"),
        world: Annotated[
            Path | None, typer.Option(help="Preload a simulated world's CRM and network logs.")
        ] = None,
        workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    ) -> None:
        """Run the HTTP service; settings also come from NETCX_* variables or NETCX_CONFIG."""
        from granian import Granian
        from granian.constants import Interfaces, Loops

        if world is not None and not world.is_dir():
            raise NotFound(f"--world {world}: no such folder")
        data.mkdir(parents=True, exist_ok=True)
        # Workers are separate processes: hand them the CLI choices through the environment.
        os.environ["NETCX_STORAGE__DATA_DIR"] = str(data.resolve())
        os.environ["NETCX_HTTP__HOST"] = host
        os.environ["NETCX_HTTP__PORT"] = str(port)
        if world is not None:
            os.environ["NETCX_WORLD"] = str(world.resolve())
            from netcx.config import load_settings
            from netcx.entrypoints.cli.network import import_world

            settings = load_settings()
            typer.echo(import_world(world, settings))
            typer.echo(_load_crm_links(world, settings))
        radius = _start_radius_listener()
        stop_forwarder = _start_forwarder()
        stop_follower = _start_follower(data.resolve())
        Granian(
            "netcx.entrypoints.http.asgi:create",
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            # uvloop, named rather than granian's `auto` (which would take rloop if it were
            # installed): the collector's group commit lives on futures, timers and thread
            # hand-offs, and uvloop cut the workers' CPU per single event by about a tenth
            # (docs/collector.md).
            loop=Loops.uvloop,
            workers=workers,
            factory=True,
            log_access=False,
        ).serve()
        if radius is not None:
            radius.set()
        if stop_forwarder is not None:
            stop_forwarder()
        if stop_follower is not None:
            stop_follower()


def _load_crm_links(world: Path, settings: Settings) -> str:
    """Write the world's CRM links into the identity graph, once per world (a marker file
    remembers it), so logged-in visitors reach their household and account."""
    from netcx.bootstrap import build_container, open_world

    marker = settings.storage.data_dir / "identity" / "crm_loaded_from"
    if marker.is_file() and marker.read_text() == str(world.resolve()):
        return f"world {world}: CRM links already loaded"
    identity = build_container(settings).identity
    edges = identity.load_crm(open_world(world).table("crm/lines"))
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(world.resolve()))
    return f"world: {edges} CRM links"


def _start_radius_listener() -> threading.Event | None:
    """The RADIUS accounting listener runs in this (granian's main) process when
    settings.radius.enabled; HTTP workers read what it stores through the journal."""
    from netcx.bootstrap import build_radius_listener
    from netcx.config import load_settings

    settings = load_settings()
    if not settings.radius.enabled:
        return None
    from netcx.adapters.radius.listener import start_in_thread

    try:
        listener = build_radius_listener(settings)
    except OSError as err:
        typer.echo(f"warning: RADIUS listener not started: {err}", err=True)
        return None
    return start_in_thread(listener)[1]


def _start_forwarder() -> Callable[[], None] | None:
    """With a bus backend set (and `scale.bus.forward_in_serve`), the forwarder runs in a
    thread of this (granian's main) process: the HTTP workers append to the local log and
    acknowledge whatever the broker does; the forwarder drains the log to the broker, one
    per data dir (it waits while another process holds the forwarder lock). Returns a
    function that stops it."""
    from netcx.bootstrap import build_forwarder, build_pseudonymizer
    from netcx.config import load_settings

    settings = load_settings()
    bus = settings.scale.bus
    if bus.backend == "none" or not bus.forward_in_serve:
        return None
    forwarder = build_forwarder(settings, build_pseudonymizer(settings))
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def run() -> None:
        try:
            await forwarder.run(stop, bus.poll_interval_ms / 1000)
        finally:
            await forwarder.close()

    thread = threading.Thread(
        target=loop.run_until_complete, args=(run(),), name="netcx-forwarder", daemon=True
    )
    thread.start()

    def stop_it() -> None:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        if not thread.is_alive():
            loop.close()

    return stop_it


def restart_delay_s(previous_s: float, lived_s: float) -> float:
    """How long to wait before restarting a follower that exited after `lived_s`: one that
    keeps failing at start (a bad setting, a damaged store) is retried less and less often,
    up to every 30 s; one that ran for a minute is restarted after 1 s."""
    return 1.0 if lived_s > 60 else min(previous_s * 2, 30.0)


def _start_follower(data: Path) -> Callable[[], None] | None:
    """With collect.recognition=follower, the recognition follower runs as its own process
    (`netcx events recognise`: its own interpreter, so it never shares a GIL with the HTTP
    workers), restarted after an unexpected exit (1 s, doubling up to 30 s while it keeps
    failing at start). Returns a function that stops it (SIGTERM: it finishes its group,
    then exits)."""
    from netcx.config import load_settings

    if load_settings().collect.recognition != "follower":
        return None
    cmd = [sys.executable, "-m", "netcx", "events", "recognise", "--data", str(data)]
    stopping = threading.Event()
    lock = threading.Lock()  # no process is started once stopping is set
    current: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes] | None:
        with lock:
            if stopping.is_set():
                return None
            proc = subprocess.Popen(cmd)
            current[:] = [proc]
            return proc

    def supervise(proc: subprocess.Popen[bytes] | None) -> None:
        delay_s = 0.5
        while proc is not None:
            started = time.monotonic()
            code = proc.wait()
            if stopping.is_set():
                return
            delay_s = restart_delay_s(delay_s, time.monotonic() - started)
            typer.echo(
                f"warning: recognition follower exited ({code}); restarting in {delay_s:.0f} s",
                err=True,
            )
            stopping.wait(delay_s)
            proc = start()

    # The first one starts here, before granian forks its workers: a Popen in a thread
    # racing that fork leaves its exec-status pipe open in a worker, so the Popen blocks
    # until the worker exits and a follower that dies meanwhile is never restarted.
    first = start()
    thread = threading.Thread(target=supervise, args=(first,), name="netcx-follower", daemon=True)
    thread.start()

    def stop_it() -> None:
        with lock:
            stopping.set()
        for proc in current:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        thread.join(5)

    return stop_it
