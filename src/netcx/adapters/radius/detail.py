"""FreeRADIUS `detail` files → AccountingRecords; bad records are reported, never fatal."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

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
                bad = ParseError(f"not a detail header: {line[:60]!r}", source=source, line_no=no)
            continue
        name, sep, value = line.strip().partition(" = ")
        if not sep or not name:
            if bad is None:
                bad = ParseError(
                    f"expected 'Attribute = value', got {line.strip()[:60]!r}",
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
