"""The CRM line directory maps the resolver's line pseudonyms back to stored MSISDNs."""

import pyarrow as pa
import pytest

from netcx.adapters.camara.crm_directory import CrmLineDirectory
from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.errors import InvalidInput
from netcx.tables import LINES


def lines_table() -> pa.Table:
    rows = [
        {"line_id": "L0000001", "kind": "mobile", "msisdn": "491700000001"},
        {"line_id": "L0000002", "kind": "fixed", "msisdn": None, "user_name": "u2@isp"},
        {"line_id": "L0000003", "kind": "mobile", "msisdn": "491700000003"},
    ]
    return pa.Table.from_pylist(rows, schema=LINES)


def test_pseudonyms_map_to_the_stored_msisdn_of_mobile_lines() -> None:
    pseudonymizer = Pseudonymizer({"k1": b"secret"}, "k1")
    directory = CrmLineDirectory(lines_table(), pseudonymizer)
    assert len(directory) == 2
    assert directory.msisdn_of(pseudonymizer.pseudonym(IdKind.LINE, "L0000003")) == "491700000003"
    assert directory.msisdn_of(pseudonymizer.pseudonym(IdKind.LINE, "L0000002")) is None
    assert directory.msisdn_of("L0000001") is None  # raw CRM ids are not accepted


def test_a_table_without_msisdns_is_refused() -> None:
    with pytest.raises(InvalidInput, match="msisdn"):
        CrmLineDirectory(pa.table({"line_id": ["L1"]}), Pseudonymizer({"k1": b"s"}, "k1"))
