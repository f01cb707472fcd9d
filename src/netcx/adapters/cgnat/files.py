"""CGNAT log files: vendor syslog text (format per line) or IPFIX binary (`.ipfix`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from netcx.adapters.cgnat.syslog import parse_syslog
from netcx.domain.network.records import BlockEvent
from netcx.errors import ParseError


def read_cgnat_file(path: Path) -> Iterator[BlockEvent | ParseError]:
    if path.suffix == ".ipfix":
        from netcx.adapters.cgnat.ipfix import read_ipfix_file

        yield from read_ipfix_file(path)
        return
    with path.open(encoding="utf-8", errors="replace") as fh:
        yield from parse_syslog(fh, path.name)
