"""RADIUS accounting under real `radclient` load: packets/s wall, CPU per packet on each side.

radclient 3.2 walks its whole list of remaining requests on every pass of its send loop,
calling select() once per element, and sends at most `-p` new requests per pass: one
20 000-request file at `-p 128` costs ~1.6 M select() calls (N²/2p, ~80 per packet,
measured with strace -c) and radclient, not the listener, was the limit. So the load is
offered as many small request files (`--radclient-file`), `--radclient-procs` radclients
at a time. `-p` stays below 192: radclient opens one UDP socket per 256 outstanding ids,
a 20-byte answer costs 832 bytes of the default 208 KiB receive buffer and UDP frees
that space lazily, so a socket with ~200+ answers queued drops some (RcvbufErrors) and
radclient stalls for its `-t` timeout. radclient busy-polls while it waits, so it runs
at nice 10: the listener under test gets the CPU it needs and radclient the rest (its
CPU per packet is therefore mostly polling, not work). The listener runs as
`netcx radius` with fsync on; its CPU comes from /proc, radclient's from wait4() rusage.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

T0_S = 1_772_409_600


def write_requests(path: Path, first: int, n: int) -> None:
    """n distinct mobile Accounting-Request Starts (radclient's attribute text format)."""
    with path.open("w") as f:
        for i in range(first, first + n):
            f.write(f'Acct-Status-Type = Start\nAcct-Session-Id = "b{i}"\n'
                    f'Calling-Station-Id = "4477{i:08d}"\nNAS-IP-Address = 192.0.2.20\n'
                    f"Framed-IP-Address = 100.{64 + i // 65536}.{i // 256 % 256}.{i % 256}\n"
                    f'Event-Timestamp = {T0_S + i}\n3GPP-IMSI = "00101{i:010d}"\n'
                    "3GPP-RAT-Type = EUTRAN\n\n")  # fmt: skip


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_radclients(
    files: list[Path], port: int, procs: int, parallel: int, nice: int
) -> tuple[float, list[int]]:
    """Run one radclient per file, `procs` at a time; (their CPU seconds, exit codes)."""
    todo, cpu_s, codes = list(files), 0.0, list[int]()
    # keep the Popen objects: one dropped while running is reaped by the next Popen()
    running: dict[int, subprocess.Popen[bytes]] = {}
    while todo or running:
        while todo and len(running) < procs:
            argv = ["nice", "-n", str(nice), "radclient", "-q", "-r", "3", "-t", "5",
                    "-p", str(parallel), "-f", str(todo.pop(0)),
                    f"127.0.0.1:{port}", "acct", "bench"]  # fmt: skip
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
            running[proc.pid] = proc
        pid, status, usage = os.wait4(-1, 0)
        done = running.pop(pid, None)
        if done is not None:
            done.returncode = os.waitstatus_to_exitcode(status)
            cpu_s += usage.ru_utime + usage.ru_stime
            codes.append(done.returncode)
    return cpu_s, codes


def bench_radius(
    packets: int, tmp: Path, *, file_packets: int, parallel: int, procs: int, nice: int
) -> dict[str, float]:
    if shutil.which("radclient") is None:
        print("radius: radclient not installed, skipped")
        return {}
    port = _free_udp_port()
    data = tmp / "radius-data"
    per_file = min(file_packets, packets)
    files = []
    for k in range(max(1, packets // per_file)):
        files.append(tmp / f"requests-{k}.txt")
        write_requests(files[-1], k * per_file, per_file)
    packets = len(files) * per_file
    proc = subprocess.Popen(
        [sys.executable, "-m", "netcx", "radius", "--port", str(port), "--secret", "bench",
         "--data", str(data)], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "NETCX_RADIUS__FSYNC": "true"},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        cpu0 = _proc_cpu_s(proc.pid)
        t = time.perf_counter()
        rc_cpu_s, codes = run_radclients(files, port, procs, parallel, nice)
        elapsed = time.perf_counter() - t
        cpu_s = _proc_cpu_s(proc.pid) - cpu0
        load = os.getloadavg()[0]
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    stats = json.loads(out.strip().splitlines()[-1])
    stored = sum(
        p.read_text().count("\n") for p in (data / "network" / "accounting").glob("*.jsonl")
    )
    rate, per_cpu = packets / elapsed, packets / cpu_s
    rc_us = rc_cpu_s / packets * 1e6
    commits = max(stats.get("commits", 0), 1)
    resent = stats["retransmissions"] + stats["duplicates"]  # answers radclient missed
    print(f"radius: {packets:,} Accounting-Requests ({len(files)} radclient runs × {per_file:,}, "
          f"-p {parallel}, {procs} at a time, nice {nice}) in {elapsed:.2f}s = "
          f"{rate:,.0f} packets/s wall "
          f"(goal 20 000/s → {rate / 20_000:.2f}x); stored {stored:,}; radclient exit codes "
          f"{sorted(set(codes))}; re-sent after a timeout {resent:,}\n"
          f"  listener CPU {cpu_s:.2f}s = {per_cpu:,.0f} packets per CPU-second "
          f"({1e6 / per_cpu:.1f} µs/packet); radclient {rc_us:.1f} µs CPU/packet "
          f"(= {1e6 / rc_us:,.0f} packets per radclient CPU-second); "
          f"{commits / elapsed:,.0f} fsync'd group commits/s, {stored / commits:.0f} packets "
          f"per group; load average {load:.1f} on {os.cpu_count()} cores")  # fmt: skip
    return {
        "radius.packets_per_s": rate,
        "radius.packets_per_cpu_s": per_cpu,
        "radius.radclient_cpu_us_per_packet": rc_us,
        "radius.commits_per_s": commits / elapsed,
        "radius.packets_per_commit": stored / commits,
        "radius.load_avg": load,
    }
