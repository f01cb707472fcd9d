"""Raw text logs as the real systems write them: FreeRADIUS detail files and CGNAT syslog."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from netcx.simulate import fmt
from netcx.simulate.network import RadiusRecords

CHUNK_ROWS = 500_000  # keeps every joined string array far below Arrow's 2 GiB offsets

# (attribute, RADIUS column, quoted): per record, then per session (constant within one).
_RECORD_ATTRS = [
    ("Acct-Status-Type", "status", False),
    ("NAS-IP-Address", "nas_ip", False),
    ("NAS-Identifier", "nas_identifier", True),
]
_SESSION_ATTRS = [
    ("Acct-Session-Id", "session_id", True),
    ("User-Name", "user_name", True),
    ("Calling-Station-Id", "calling_station_id", True),
    ("Called-Station-Id", "called_station_id", True),
    ("Framed-IP-Address", "framed_ip", False),
    ("Framed-IPv6-Prefix", "framed_ipv6_prefix", False),
    ("Delegated-IPv6-Prefix", "delegated_ipv6_prefix", False),
    ("3GPP-IMSI", "imsi", True),
    ("3GPP-IMEISV", "imeisv", True),
]
_TAIL_ATTRS = [
    ("Acct-Session-Time", "session_time_s", False),
    ("Acct-Terminate-Cause", "terminate_cause", False),
    ("Event-Timestamp", "event_ts_s", False),
    ("Acct-Delay-Time", "delay_s", False),
]


def _attr_parts(
    columns: dict[str, pa.Array], attrs: list[tuple[str, str, bool]]
) -> list[pa.Array | str]:
    """Join parts of `Name = value` lines; an attribute with nulls is omitted where null."""
    parts: list[pa.Array | str] = []
    for attr, column, quoted in attrs:
        value = pc.cast(columns[column], pa.string())
        q = '"' if quoted else ""
        if value.null_count == 0:
            parts += [f"\t{attr} = {q}", value, f"{q}\n"]
        else:
            parts.append(pc.fill_null(fmt.join(f"\t{attr} = {q}", value, f"{q}\n"), ""))
    return parts


def _write_strings(f: object, values: pa.Array) -> None:
    """Write the concatenated bytes of a string array (no per-row Python work)."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if len(arr) == 0:
        return
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[
        arr.offset : arr.offset + len(arr) + 1
    ]
    data = arr.buffers()[2]
    f.write(memoryview(data)[int(offsets[0]) : int(offsets[-1])])  # type: ignore[attr-defined]


def detail_records(radius: RadiusRecords, start: int, stop: int) -> pa.Array:
    """FreeRADIUS detail records (arrival-time header, tab-indented attributes, blank line)
    for rows [start, stop) of `radius`."""
    table = radius.table.slice(start, stop - start)
    cols = {name: table[name].combine_chunks() for name in table.column_names}
    arrival_s = cols["arrival_ms"].to_numpy() // 1000
    session = radius.session[start:stop]
    used, local = np.unique(session[session >= 0], return_inverse=True)
    attrs = {k: v.take(pa.array(used)) for k, v in radius.session_attrs.items()}
    blocks = fmt.join(*_attr_parts(attrs, _SESSION_ATTRS))
    index = np.zeros(len(session), np.int64)
    index[session >= 0] = local
    block = (
        pc.if_else(pa.array(session >= 0), blocks.take(pa.array(index)), "") if len(used) else ""
    )
    return fmt.join(
        fmt.strftime_s(arrival_s, "%a %b %e %H:%M:%S %Y\n"),
        *_attr_parts(cols, _RECORD_ATTRS),
        block,
        *_attr_parts(cols, _TAIL_ATTRS),
        "\tTimestamp = ",
        fmt.dec(arrival_s),
        "\n\n",
    )


def write_detail_files(radius: RadiusRecords, directory: Path) -> list[Path]:
    """detail-YYYYMMDD.log per collector arrival day; records must be sorted by arrival."""
    directory.mkdir(parents=True, exist_ok=True)
    day = radius.table["arrival_ms"].to_numpy() // 86_400_000
    written: list[Path] = []
    if len(day) == 0:
        return written
    cuts = np.flatnonzero(np.diff(day)) + 1
    bounds = [0, *cuts.tolist(), len(day)]
    for a, b in pairwise(bounds):
        name = fmt.strftime_s(np.array([day[a] * 86_400]), "detail-%Y%m%d.log")[0].as_py()
        path = directory / name
        with path.open("wb") as f:
            for c in range(a, b, CHUNK_ROWS):
                _write_strings(f, detail_records(radius, c, min(c + CHUNK_ROWS, b)))
        written.append(path)
    return written


def _srx(ev: pa.Table, instance: str, jitter_ms: np.ndarray) -> pa.Array:
    ts = ev["ts_s"].to_numpy()
    tag = fmt.pick(["RT_SRC_NAT_PBA_ALLOC", "RT_SRC_NAT_PBA_RELEASE"], _kind(ev))
    return fmt.join(
        "<14>1 ",
        fmt.strftime_s(ts, "%Y-%m-%dT%H:%M:%S."),
        fmt.ms3(jitter_ms),
        "Z",
        f" {instance} RT_NAT - ",
        tag,
        ' [junos@2636.1.1.1.2.40 internal-ip="',
        ev["inside_ip"].combine_chunks(),
        '" block-used="',
        fmt.dec(ev["blocks_after"].to_numpy()),
        '" block-max-per-host="8" block-port-low="',
        fmt.dec(ev["port_lo"].to_numpy()),
        '" block-port-high="',
        fmt.dec(ev["port_hi"].to_numpy()),
        '" reflexive-ip="',
        ev["outside_ip"].combine_chunks(),
        '" nat-pool-name="cgn-pool" logical-system-id="0" epoch-time-64="',
        fmt.hex32(ts),
        '"]\n',
    )


def _msmpc(ev: pa.Table, instance: str, jitter_ms: np.ndarray) -> pa.Array:
    ts = ev["ts_s"].to_numpy()
    tag = fmt.pick(
        ["JSERVICES_NAT_PORT_BLOCK_ALLOC", "JSERVICES_NAT_PORT_BLOCK_RELEASE"], _kind(ev)
    )
    return fmt.join(
        fmt.strftime_s(ts + (jitter_ms >= 500), "%b %e %H:%M:%S"),
        " loghost ",
        fmt.strftime_s(ts, "%Y-%m-%d %H:%M:%S"),
        f": {instance}{{sset-cgn}}[jservices-nat]: ",
        tag,
        ": ",
        ev["inside_ip"].combine_chunks(),
        " -> ",
        ev["outside_ip"].combine_chunks(),
        ":",
        fmt.dec(ev["port_lo"].to_numpy()),
        "-",
        fmt.dec(ev["port_hi"].to_numpy()),
        " 0x",
        fmt.hex32(ts),
        "\n",
    )


def _a10(ev: pa.Table, instance: str, jitter_ms: np.ndarray) -> pa.Array:
    ts = ev["ts_s"].to_numpy()
    kind = _kind(ev)
    return fmt.join(
        fmt.strftime_s(ts, "%Y-%m-%dT%H:%M:%S"),
        f".000+00:00 {instance}/cgn-inside CEF:0|A10|CFW|6.0.0-P1|",
        fmt.pick(
            ["CGN 106|Nat Port Batch Pool Allocated", "CGN 107|Nat Port Batch Pool Freed"], kind
        ),
        "|5|proto=UDP src=",
        ev["inside_ip"].combine_chunks(),
        " sourceTranslatedAddress=",
        ev["outside_ip"].combine_chunks(),
        " sourceTranslatedPort=",
        fmt.dec(ev["port_lo"].to_numpy()),
        " cn3=",
        fmt.dec(ev["port_hi"].to_numpy()),
        " cn3Label=Last Nat Port\n",
    )


def _kind(ev: pa.Table) -> fmt.IntArray:
    release = pc.equal(ev["event"], "release").to_numpy(zero_copy_only=False)
    return np.asarray(release, dtype=np.int64)


_FORMATS = {"juniper_srx": _srx, "juniper_msmpc": _msmpc, "a10_cef": _a10}


def write_cgnat_log(
    events: pa.Table, instance: str, log_format: str, path: Path, rng: np.random.Generator
) -> None:
    """Port-block syslog of one NAT instance in its vendor's line shape (network-logs.md §2.5)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    jitter_ms = rng.integers(0, 1000, len(events))
    render = _FORMATS[log_format]
    with path.open("wb") as f:
        for c in range(0, len(events), CHUNK_ROWS):
            chunk = events.slice(c, CHUNK_ROWS)
            _write_strings(f, render(chunk, instance, jitter_ms[c : c + len(chunk)]))
