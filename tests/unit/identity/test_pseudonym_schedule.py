"""Key rotation: the key in force is picked by date; every version stays findable."""

from __future__ import annotations

import pytest

from netcx.domain.privacy import parse_subject_ref, subject_pseudonyms
from netcx.domain.pseudonyms import IdKind, Pseudonymizer, kind_of_pseudonym
from netcx.errors import InvalidInput

KEYS = {"k1": b"one", "k2": b"two", "k3": b"three"}
SCHEDULE = {"k1": 0, "k2": 1_000, "k3": 5_000}


def test_version_is_picked_by_activation_date() -> None:
    p = Pseudonymizer(KEYS, "k2", SCHEDULE)
    assert [p.version_at(t) for t in (0, 999, 1_000, 4_999, 5_000)] == [
        "k1",
        "k1",
        "k2",
        "k2",
        "k3",
    ]
    assert p.pseudonym(IdKind.LINE, "L1", at_ms=6_000) == p.pseudonym(
        IdKind.LINE, "L1", version="k3"
    )
    assert p.pseudonym(IdKind.LINE, "L1", at_ms=6_000).startswith("ln3_")


def test_before_the_first_activation_there_is_no_key() -> None:
    p = Pseudonymizer(KEYS, "k1", {"k1": 100})
    with pytest.raises(ValueError, match="no pseudonym key is active"):
        p.version_at(50)


def test_schedule_must_name_known_keys() -> None:
    with pytest.raises(ValueError, match="k9"):
        Pseudonymizer(KEYS, "k1", {"k9": 1})


def test_destinations_differ_under_every_key() -> None:
    p = Pseudonymizer(KEYS, "k1", SCHEDULE)
    for version in KEYS:
        a = p.pseudonym(IdKind.ACCOUNT, "A1", "cvm", version=version)
        b = p.pseudonym(IdKind.ACCOUNT, "A1", "partner", version=version)
        assert a != b


def test_every_version_finds_ids_made_before_rotation() -> None:
    p = Pseudonymizer(KEYS, "k2", SCHEDULE)
    old = p.pseudonym(IdKind.SUBSCRIBER, "S1", version="k1")
    allv = p.every_version(IdKind.SUBSCRIBER, "S1")
    assert allv[0] == p.pseudonym(IdKind.SUBSCRIBER, "S1") and old in allv and len(allv) == 3


def test_subject_refs() -> None:
    p = Pseudonymizer(KEYS, "k1")
    pseudo = p.pseudonym(IdKind.VISITOR, "cookie-1")
    assert kind_of_pseudonym(pseudo) is IdKind.VISITOR
    assert parse_subject_ref(pseudo) == (IdKind.VISITOR, None)
    assert parse_subject_ref("subscriber:S:1") == (IdKind.SUBSCRIBER, "S:1")
    assert subject_pseudonyms("visitor:cookie-1", p.every_version)[0] == pseudo
    for bad in ("", "nobody", "msisdn:447700900123", "visitor:"):
        with pytest.raises(InvalidInput, match="subject"):
            parse_subject_ref(bad)


def test_remembered_pseudonyms_follow_the_key_in_force_and_the_destination() -> None:
    """Pseudonyms are remembered (an HMAC per event was a tenth of recognition): the memo is
    keyed by kind, id, destination and key version, so rotation and destinations hold."""
    import hashlib
    import hmac

    p = Pseudonymizer(KEYS, "k2", SCHEDULE)
    first = [p.pseudonym(IdKind.VISITOR, "v1", at_ms=t) for t in (500, 2_000, 6_000)]
    again = [p.pseudonym(IdKind.VISITOR, "v1", at_ms=t) for t in (500, 2_000, 6_000)]
    assert first == again
    assert [x[:3] for x in first] == ["vi1", "vi2", "vi3"]
    assert p.pseudonym(IdKind.VISITOR, "v1", "partner-a") != p.pseudonym(IdKind.VISITOR, "v1")
    assert p.pseudonym(IdKind.LINE, "v1") != p.pseudonym(IdKind.VISITOR, "v1")
    key = hmac.new(b"two", b"destination:internal", "sha256").digest()
    expected = hmac.new(key, b"vi:v1", hashlib.sha256).hexdigest()[:24]
    assert p.pseudonym(IdKind.VISITOR, "v1") == f"vi2_{expected}"  # the memo is the HMAC
