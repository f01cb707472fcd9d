"""FreeRADIUS `detail` files → AccountingRecords; bad records are reported, never fatal."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from netcx.adapters.radius.attributes import Value, record_from_attributes
from netcx.domain.network.records import AccountingRecord
from netcx.errors import InvalidInput, ParseError


def _strip_comment(value: str) -> str:
    """Drop a trailing `# comment` that is not inside quotes."""
    in_quotes = False
    for i, ch in enumerate(value):
        if ch == '"':
            in_quotes = not in_quotes
        elif ch == "#" and not in_quotes:
            return value[:i].rstrip()
    return value.rstrip()


def _value(text: str) -> Value:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1].replace('\\"', '"')
    return text


def _arrival_ms(header: str) -> int:
    text = _strip_comment(header).strip()
    return (
        int(datetime.strptime(text, "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC).timestamp()) * 1000
    )


def parse_detail(lines: Iterable[str], source: str) -> Iterator[AccountingRecord | ParseError]:
    """Yield one record per blank-line separated block; a bad block yields a ParseError
    naming `source` and the line where the block starts (or the bad line)."""
    attrs: dict[str, Value] = {}
    start_line = 0
    arrival: int | None = None
    bad: ParseError | None = None

    def flush() -> AccountingRecord | ParseError | None:
        if bad is not None:
            return bad
        if not attrs:
            return None
        try:
            return record_from_attributes(
                attrs, arrival_ms=arrival, raw_ref=f"{source}:{start_line}"
            )
        except InvalidInput as err:
            return ParseError(str(err), source=source, line_no=start_line)

    for no, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            out = flush()
            if out is not None:
                yield out
            attrs, bad, start_line, arrival = {}, None, 0, None
            continue
        if line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():  # "Mon Jun 10 06:13:20 2024": arrival time of the next record
            out = flush()
            if out is not None:
                yield out
            attrs, bad, start_line = {}, None, no
            try:
                arrival = _arrival_ms(line)
            except ValueError:
                bad = ParseError("not a detail header (date line)", source=source, line_no=no)
            continue
        name, sep, value = line.strip().partition(" = ")
        if not sep or not name:
            if bad is None:
                bad = ParseError(
                    "expected 'Attribute = value'",
                    source=source,
                    line_no=no,
                )
            continue
        if not attrs:
            start_line = start_line or no
        attrs.setdefault(name, _value(_strip_comment(value)))
    out = flush()
    if out is not None:
        yield out


def read_radius_file(path: Path) -> Iterator[AccountingRecord | ParseError]:
    """A FreeRADIUS detail file, or a Parquet export with the RADIUS table's columns."""
    if path.suffix == ".parquet":
        yield from _read_radius_parquet(path)
        return
    with path.open(encoding="utf-8", errors="replace") as fh:
        yield from parse_detail(fh, path.name)


_PARQUET_ATTRS = {
    "status": "Acct-Status-Type",
    "nas_ip": "NAS-IP-Address",
    "nas_identifier": "NAS-Identifier",
    "session_id": "Acct-Session-Id",
    "user_name": "User-Name",
    "calling_station_id": "Calling-Station-Id",
    "called_station_id": "Called-Station-Id",
    "framed_ip": "Framed-IP-Address",
    "framed_ipv6_prefix": "Framed-IPv6-Prefix",
    "delegated_ipv6_prefix": "Delegated-IPv6-Prefix",
    "imsi": "3GPP-IMSI",
    "imeisv": "3GPP-IMEISV",
    "event_ts_s": "Event-Timestamp",
    "delay_s": "Acct-Delay-Time",
    "session_time_s": "Acct-Session-Time",
    "terminate_cause": "Acct-Terminate-Cause",
}


def _read_radius_parquet(path: Path) -> Iterator[AccountingRecord | ParseError]:
    import pyarrow.parquet as pq

    from netcx.tables import RADIUS, require_columns

    table = require_columns(pq.read_table(path), RADIUS, path.name)
    for no, row in enumerate(table.to_pylist(), start=1):
        attrs = {
            _PARQUET_ATTRS[k]: v
            for k, v in row.items()
            if k in _PARQUET_ATTRS and v not in (None, "")
        }
        try:
            yield record_from_attributes(
                attrs, arrival_ms=row["arrival_ms"], raw_ref=f"{path.name}:{no}"
            )
        except InvalidInput as err:
            yield ParseError(str(err), source=path.name, line_no=no)
