"""Line directory over the CRM `lines` table: line pseudonym → MSISDN, held in memory."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.errors import InvalidInput


class CrmLineDirectory:
    """Answers `msisdn_of(line pseudonym)` for the mobile lines of a CRM LINES table.

    The resolver names lines by `pseudonymizer.pseudonym(IdKind.LINE, crm line_id)`
    (destination internal, current key); this index maps those back to the stored MSISDN.
    The raw numbers stay inside this object; it is built for the CAMARA API only.
    """

    def __init__(self, lines: pa.Table, pseudonymizer: Pseudonymizer) -> None:
        missing = {"line_id", "msisdn"} - set(lines.column_names)
        if missing:
            raise InvalidInput(f"CRM lines table lacks columns {sorted(missing)}")
        mobile = lines.filter(pc.is_valid(lines["msisdn"]))
        ids = mobile["line_id"].to_pylist()
        self._msisdn = dict(
            zip(pseudonymizer.many(IdKind.LINE, ids), mobile["msisdn"].to_pylist(), strict=True)
        )

    def msisdn_of(self, line_id: str) -> str | None:
        return self._msisdn.get(line_id)

    def __len__(self) -> int:
        return len(self._msisdn)
