"""CRM lines keyed by the identities RADIUS carries (MSISDN, IMSI, User-Name)."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from netcx.domain.network.records import AccountingRecord

MOBILE = "mobile"
FIXED = "fixed"


class LineInfo(msgspec.Struct, frozen=True):
    """Raw CRM ids of one line (pseudonymised only when they leave the resolver)."""

    line_id: str
    kind: str  # mobile | fixed
    household_id: str
    account_id: str
    subscriber_id: str | None = None
    msisdn: str | None = None
    imsi: str | None = None
    user_name: str | None = None


UNKNOWN_HOLDER_PREFIX = "?"
"""Holder of a session whose identity is not in CRM (inbound roamer, MVNO, new line)."""


class LineDirectory:
    """Maps RADIUS identities to CRM lines."""

    def __init__(self, lines: Iterable[LineInfo] = ()) -> None:
        self.lines: dict[str, LineInfo] = {}
        self._by_identity: dict[str, str] = {}
        for line in lines:
            self.add(line)

    def add(self, line: LineInfo) -> None:
        self.lines[line.line_id] = line
        for prefix, value in (
            ("msisdn", line.msisdn),
            ("imsi", line.imsi),
            ("user", line.user_name),
        ):
            if value:
                self._by_identity[f"{prefix}:{value}"] = line.line_id

    def holder_of(self, record: AccountingRecord, access: str) -> str:
        """Line id of the session's holder; fixed access keys on User-Name, mobile on
        MSISDN then IMSI. Unknown identities map to '?<identity>' (never to a line)."""
        if access == FIXED:
            keys = [("user", record.user_name), ("msisdn", record.calling_station_id)]
        else:
            keys = [
                ("msisdn", record.calling_station_id),
                ("imsi", record.imsi),
                ("user", record.user_name),
            ]
        first = ""
        for prefix, value in keys:
            if value:
                key = f"{prefix}:{value}"
                line_id = self._by_identity.get(key)
                if line_id is not None:
                    return line_id
                first = first or key
        return UNKNOWN_HOLDER_PREFIX + (first or "anonymous")
