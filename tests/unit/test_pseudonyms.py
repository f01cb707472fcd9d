"""Pseudonyms are stable, keyed, per-destination and versioned."""

import pytest

from netcx.domain.pseudonyms import IdKind, Pseudonymizer

KEYS = {"k1": b"one", "k2": b"two"}


def test_pseudonym_is_stable_and_hides_the_raw_id() -> None:
    p = Pseudonymizer(KEYS, "k1")
    a = p.pseudonym(IdKind.LINE, "447700900123")
    assert a == p.pseudonym(IdKind.LINE, "447700900123")
    assert "447700900123" not in a
    assert a.startswith("ln1_")


def test_destinations_cannot_join_their_ids() -> None:
    p = Pseudonymizer(KEYS, "k1")
    assert p.pseudonym(IdKind.ACCOUNT, "A1", "cvm") != p.pseudonym(IdKind.ACCOUNT, "A1", "partner")


def test_rotation_changes_pseudonyms_and_names_the_version() -> None:
    old = Pseudonymizer(KEYS, "k1").pseudonym(IdKind.ACCOUNT, "A1")
    new = Pseudonymizer(KEYS, "k2").pseudonym(IdKind.ACCOUNT, "A1")
    assert old != new and new.startswith("ac2_")


def test_unknown_current_key_is_refused() -> None:
    with pytest.raises(ValueError, match="k9"):
        Pseudonymizer(KEYS, "k9")


def test_many_matches_single() -> None:
    p = Pseudonymizer(KEYS, "k1")
    ids = ["a", "b", "a"]
    assert p.many(IdKind.VISITOR, ids) == [p.pseudonym(IdKind.VISITOR, i) for i in ids]
