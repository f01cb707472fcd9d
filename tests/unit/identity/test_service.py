"""IdentityService: consent-gated recognition, context, unmerge, export, erasure, purge."""

from __future__ import annotations

import logging

import pyarrow as pa
import pytest

from netcx.domain.identity import RecognitionState
from netcx.domain.privacy import DAY_MS, AuditAction
from netcx.domain.pseudonyms import IdKind
from netcx.errors import InvalidInput, NotFound
from netcx.services.identity import ConsentGate, RecogniseRequest
from netcx.tables import LINES
from tests.unit.identity.fakes import (
    HOUSEHOLD_RESOLUTION,
    IP_HOUSEHOLD,
    IP_LINE,
    IP_OTHER,
    LINE_RESOLUTION,
    MSISDN,
    Clock,
    FakeResolver,
    make_service,
    pid,
)

NOW = 1_700_000_000_000
VISITOR = "cookie-123"
V = pid(IdKind.VISITOR, VISITOR)


def grant(svc, purpose: str = "personalisation", subject: str = f"visitor:{VISITOR}") -> None:  # type: ignore[no-untyped-def]
    svc.set_consent(subject, purpose, True, "tag", "v1", caller="web")


def test_no_consent_no_resolution() -> None:
    resolver = FakeResolver()
    svc = make_service(resolver)
    r = svc.recognise(VISITOR, IP_LINE, 1500, NOW, "personalisation", None)
    assert r.state is RecognitionState.ANONYMOUS and r.reason == "no_consent"
    assert resolver.asked == []  # the address never reached the resolver
    (rec,) = svc.audit.read(V)
    assert (rec.action, rec.outcome, rec.reason) == (AuditAction.RESOLVE, "anonymous", "no_consent")


def test_consent_for_the_purpose_recognises_the_line() -> None:
    svc = make_service()
    grant(svc)
    r = svc.recognise(VISITOR, IP_LINE, 1500, NOW, "personalisation", None, caller="web")
    assert r.state is RecognitionState.NETWORK_LINE and r.visitor_id == V
    assert (r.line_id, r.account_id) == (LINE_RESOLUTION.line_id, LINE_RESOLUTION.account_id)
    # consent for personalisation says nothing about marketing
    m = svc.recognise(VISITOR, IP_LINE, 1500, NOW, "marketing", None)
    assert m.state is RecognitionState.ANONYMOUS
    resolve = [x for x in svc.audit.read(V) if x.action is AuditAction.RESOLVE]
    assert [(x.caller, x.purpose, x.outcome) for x in resolve] == [
        ("web", "personalisation", "network_line"),
        ("collector", "marketing", "anonymous"),
    ]
    assert resolve[0].evidence and resolve[0].evidence[0].startswith("ev1_")


def test_revocation_is_effective_at_the_next_check() -> None:
    svc = make_service()
    grant(svc)
    assert svc.recognise(VISITOR, IP_LINE, 1, NOW, "personalisation", None).line_id
    svc.set_consent(f"visitor:{VISITOR}", "personalisation", False, "tag", "v1", caller="web")
    r = svc.recognise(VISITOR, IP_LINE, 1, NOW + 1, "personalisation", None)
    assert r.state is RecognitionState.ANONYMOUS and r.line_id is None


def test_a_line_holders_revocation_vetoes_network_recognition() -> None:
    svc = make_service()
    grant(svc)
    svc.set_consent(
        LINE_RESOLUTION.line_id or "", "personalisation", False, "call-centre", "v1", "cc"
    )
    r = svc.recognise(VISITOR, IP_LINE, 1, NOW, "personalisation", None)
    assert r.state is RecognitionState.ANONYMOUS


def test_household_and_unknown_addresses() -> None:
    svc = make_service()
    grant(svc)
    hh = svc.recognise(VISITOR, IP_HOUSEHOLD, None, NOW, "personalisation", None)
    assert hh.state is RecognitionState.NETWORK_HOUSEHOLD and hh.line_id is None
    other = svc.recognise("cookie-2", IP_OTHER, 1, NOW, "personalisation", None)
    assert other.state is RecognitionState.ANONYMOUS


def test_network_edge_expires_after_its_ttl() -> None:
    clock = Clock(NOW)
    svc = make_service(clock=clock)
    grant(svc)
    svc.recognise(VISITOR, IP_LINE, 1, NOW, "personalisation", None)
    clock.now_ms = NOW + 599_000
    assert svc.context(f"visitor:{VISITOR}").recognition.state is RecognitionState.NETWORK_LINE
    clock.now_ms = NOW + 601_000
    assert svc.context(f"visitor:{VISITOR}").recognition.state is RecognitionState.ANONYMOUS


def test_login_is_authenticated_without_network_consent_and_skips_resolution() -> None:
    resolver = FakeResolver()
    svc = make_service(resolver)
    grant(svc)
    r = svc.recognise(VISITOR, IP_LINE, 1, NOW, "personalisation", "S9")
    assert r.state is RecognitionState.AUTHENTICATED
    assert r.subscriber_id == pid(IdKind.SUBSCRIBER, "S9")
    assert resolver.asked == []


def test_two_authenticated_customers_on_one_address_stay_apart() -> None:
    svc = make_service()
    # Both browse from S1's line before logging in: both get a network edge to that line.
    for cookie, user in (("c-anna", "S1"), ("c-bob", "S7")):
        grant(svc, subject=f"visitor:{cookie}")
        net = svc.recognise(cookie, IP_LINE, 1, NOW, "personalisation", None)
        assert net.subscriber_id == pid(IdKind.SUBSCRIBER, "S1")
        svc.recognise(cookie, IP_LINE, 1, NOW + 10, "personalisation", user)
    bob = svc.context("visitor:c-bob").recognition
    assert bob.subscriber_id == pid(IdKind.SUBSCRIBER, "S7")
    anna_profile = svc.context("subscriber:S1")
    assert anna_profile.visitors == [pid(IdKind.VISITOR, "c-anna")]
    assert svc.context("subscriber:S7").visitors == [pid(IdKind.VISITOR, "c-bob")]


def test_call_centre_sees_network_recognised_visitor_of_the_account() -> None:
    svc = make_service()
    grant(svc)
    svc.recognise(VISITOR, IP_LINE, 1, NOW, "personalisation", None)
    ctx = svc.context("account:A1")
    assert ctx.kind == "account" and V in ctx.visitors
    assert ctx.recognition.state is RecognitionState.AUTHENTICATED
    assert ctx.evidence[0]["source"] == "network" and "expires_ms" in ctx.evidence[0]
    # the same visitor, seen by the web, shows the same ids
    web = svc.context(V).recognition
    assert web.account_id == ctx.recognition.account_id == LINE_RESOLUTION.account_id
    # without consent the visitor no longer shows up in the account's context
    svc.set_consent(V, "personalisation", False, "tag", "v1", "web")
    assert svc.context("account:A1").visitors == []


def test_unmerge_undoes_a_wrong_login_and_keeps_the_rest() -> None:
    svc = make_service()
    grant(svc)
    svc.recognise(VISITOR, IP_LINE, 1, NOW, "personalisation", None)  # network edge
    svc.recognise(VISITOR, IP_LINE, 1, NOW + 1, "personalisation", "S5")  # shared device login
    assert svc.context(V).recognition.state is RecognitionState.AUTHENTICATED
    assert svc.unmerge(V, "subscriber:S5", caller="ops") == 1
    after = svc.context(V).recognition
    assert after.state is RecognitionState.NETWORK_LINE
    assert svc.context("subscriber:S5").visitors == []
    exported = svc.export(V, caller="dpo")
    retracted = [e for e in exported["identity_edges"] if e.get("retracted_ms")]
    assert len(retracted) == 1 and retracted[0]["retracted_by"] == "ops"
    with pytest.raises(NotFound):
        svc.unmerge(V, "subscriber:S5", caller="ops")


def test_export_and_erase_one_subject_leave_others_alone() -> None:
    svc = make_service()
    grant(svc)
    grant(svc, subject="visitor:other")
    svc.recognise(VISITOR, IP_LINE, 1, NOW, "personalisation", None)
    svc.recognise("other", IP_HOUSEHOLD, 1, NOW, "personalisation", None)
    data = svc.export(f"visitor:{VISITOR}", caller="dpo")
    assert data["subject"] == V
    assert {e["dst"] for e in data["identity_edges"]} == {LINE_RESOLUTION.line_id}
    assert data["consent"][0]["purpose"] == "personalisation"
    assert any(a["action"] == "resolve" for a in data["audit"])
    receipt = svc.erase(f"visitor:{VISITOR}", caller="dpo")
    assert receipt["erased"]["identity_edges"] == 1 and receipt["receipt"].startswith("ev1_")
    gone = svc.export(V, caller="dpo")
    assert gone["identity_edges"] == [] and gone["consent"] == []
    assert gone["audit"] == []  # the export itself is audited after it was read
    assert svc.context("visitor:other").recognition.state is RecognitionState.NETWORK_HOUSEHOLD
    erase_rec = [r for r in svc.audit.read() if r.action is AuditAction.ERASE]
    assert erase_rec[0].subject == "" and erase_rec[0].reason == receipt["receipt"]


def test_retention_purge_per_kind() -> None:
    clock = Clock(NOW)
    svc = make_service(clock=clock)
    grant(svc)
    svc.recognise(VISITOR, IP_LINE, 1, NOW, "personalisation", None)
    clock.now_ms = NOW + 31 * DAY_MS
    counts = svc.purge_retention(caller="cron")
    assert counts["network_edges"] == 1 and counts["crm_edges"] == 0
    assert [e.source for e in svc.store.edges_of(V)] == []
    assert svc.consent.history(V)  # the decision in force is never purged


def test_bad_references_name_the_field() -> None:
    svc = make_service()
    with pytest.raises(InvalidInput, match="subject"):
        svc.set_consent("447700900123", "personalisation", True, "api", "v1", "x")
    with pytest.raises(InvalidInput, match="purpose"):
        svc.set_consent("visitor:a", "selling", True, "api", "v1", "x")
    with pytest.raises(InvalidInput, match="text_version"):
        svc.set_consent("visitor:a", "analytics", True, "api", " ", "x")
    with pytest.raises(NotFound):
        svc.context("account:nobody")


def test_consent_gate_for_resolve_endpoint() -> None:
    svc = make_service()
    # a visitor without consent: not resolved
    r = svc.resolve_for_purpose(IP_LINE, 1, NOW, "personalisation", "web", visitor_id=VISITOR)
    assert r.reason == "no_consent" and r.line_id is None
    grant(svc)
    r = svc.resolve_for_purpose(IP_LINE, 1, NOW, "personalisation", "web", visitor_id=VISITOR)
    assert r.line_id == LINE_RESOLUTION.line_id
    # server-to-server number verification: the line itself must have granted
    r = svc.resolve_for_purpose(IP_LINE, 1, NOW, "number-verification", "partner-x")
    assert r.reason == "no_consent"
    svc.set_consent(LINE_RESOLUTION.line_id or "", "number-verification", True, "app", "nv1", "x")
    r = svc.resolve_for_purpose(IP_LINE, 1, NOW, "number-verification", "partner-x")
    assert r.line_id == LINE_RESOLUTION.line_id
    audited = [a for a in svc.audit.read(limit=100) if a.action is AuditAction.RESOLVE]
    assert [a.caller for a in audited] == ["web", "web", "partner-x", "partner-x"]


def test_no_raw_address_or_msisdn_in_logs_audit_or_export(
    caplog: pytest.LogCaptureFixture,
) -> None:
    svc = make_service()
    caplog.set_level(logging.DEBUG)
    grant(svc)
    svc.recognise(VISITOR, IP_LINE, 1500, NOW, "personalisation", None)
    svc.recognise(VISITOR, IP_HOUSEHOLD, None, NOW, "analytics", None)
    svc.resolve_for_purpose(IP_LINE, 1500, NOW, "personalisation", "web", VISITOR)
    exported = svc.export(V, caller="dpo")
    svc.erase(V, caller="dpo")
    everything = caplog.text + repr(exported) + repr(svc.audit.read(limit=1000))
    assert "event=resolve" in caplog.text  # logs were captured
    for raw in (IP_LINE, IP_HOUSEHOLD, MSISDN, VISITOR, "L1", "srx-cgn1:"):
        assert raw not in everything, raw


def crm_lines() -> pa.Table:
    rows = [
        {
            "line_id": "L8",
            "kind": "mobile",
            "subscriber_id": "S8",
            "household_id": "H8",
            "account_id": "A8",
            "msisdn": "447700900888",
            "imsi": "001010000000888",
        },
        {
            "line_id": "F8",
            "kind": "fixed",
            "subscriber_id": None,
            "household_id": "H8",
            "account_id": "A8",
            "user_name": "h8@isp",
        },
    ]
    return pa.Table.from_pylist(rows, schema=LINES)


def test_loaded_crm_links_logged_in_visitors_to_their_account() -> None:
    svc = make_service()
    assert svc.load_crm(crm_lines()) == 7
    r = svc.recognise("c-login", IP_OTHER, 1, NOW, "personalisation", "S8")
    assert r.state is RecognitionState.AUTHENTICATED
    assert (r.household_id, r.account_id) == (
        pid(IdKind.HOUSEHOLD, "H8"),
        pid(IdKind.ACCOUNT, "A8"),
    )
    assert svc.context("account:A8", caller="call-centre").visitors == [
        pid(IdKind.VISITOR, "c-login")
    ]
    stored = repr(svc.store.edges_of(pid(IdKind.LINE, "L8")))
    assert "447700900888" not in stored and "L8" not in stored


def test_load_crm_names_a_missing_column() -> None:
    with pytest.raises(InvalidInput, match="crm/lines: missing column"):
        make_service().load_crm(pa.table({"line_id": ["L1"]}))


def test_consent_gate_hook_for_the_resolve_endpoint() -> None:
    """`ConsentGate.gate(resolution, purpose, at_ms)` is what `/v1/resolve` calls."""
    svc = make_service()
    gate = ConsentGate(svc.consent)
    line = LINE_RESOLUTION.line_id or ""
    assert gate.gate(LINE_RESOLUTION, "marketing", NOW).reason == "no_consent"
    svc.set_consent(line, "marketing", True, "call-centre", "v1", "cc")
    assert gate.gate(LINE_RESOLUTION, "marketing", NOW) == LINE_RESOLUTION
    assert gate.gate(LINE_RESOLUTION, "analytics", NOW).line_id is None
    svc.set_consent(line, "marketing", False, "app", "v1", "app")
    assert gate.gate(LINE_RESOLUTION, "marketing", NOW + 1).reason == "no_consent"
    unknown = gate.gate(HOUSEHOLD_RESOLUTION.unknown("not_ours"), "marketing", NOW)
    assert unknown.reason == "not_ours"
    with pytest.raises(InvalidInput, match="purpose"):
        gate.gate(LINE_RESOLUTION, "ads", NOW)


def test_consent_reported_with_events_is_recorded_once_per_change() -> None:
    svc = make_service()
    report = svc.record_reported_consent
    first = report(VISITOR, {"personalisation": True, "marketing": None}, "tag", "cmp-3", NOW)
    assert [(d.purpose, d.granted) for d in first] == [("personalisation", True)]
    assert report(VISITOR, {"personalisation": True}, "tag", "cmp-3", NOW + 5) == []
    assert svc.recognise(VISITOR, IP_LINE, 1, NOW + 6, "personalisation", None).line_id
    revoked = report(VISITOR, {"personalisation": False}, "tag", "cmp-3", NOW + 10)
    assert len(revoked) == 1
    assert svc.recognise(VISITOR, IP_LINE, 1, NOW + 11, "personalisation", None).line_id is None
    # a late event carrying an older state does not undo the newer decision
    assert report(VISITOR, {"personalisation": True}, "tag", "cmp-3", NOW + 7) == []
    with pytest.raises(InvalidInput, match="purpose"):
        report(VISITOR, {"ads": True}, "tag", "cmp-3", NOW)


def test_a_batch_answers_as_one_call_per_event() -> None:
    requests = [
        RecogniseRequest(VISITOR, IP_LINE, 1, NOW, "personalisation"),
        RecogniseRequest("other", IP_HOUSEHOLD, None, NOW + 1, "personalisation"),
        RecogniseRequest(VISITOR, IP_LINE, 1, NOW + 2, "marketing"),
        RecogniseRequest(VISITOR, IP_OTHER, 1, NOW + 3, "personalisation", "S3"),
        RecogniseRequest(VISITOR, IP_LINE, 1, NOW + 4, "personalisation"),
    ]
    one_by_one, batched = make_service(), make_service()
    for svc in (one_by_one, batched):
        grant(svc)
        grant(svc, subject="visitor:other")
    singles = [
        one_by_one.recognise(r.visitor_id, r.ip, r.port, r.at_ms, r.purpose, r.user_id)
        for r in requests
    ]
    assert batched.recognise_many(requests) == singles
    assert [s.state for s in singles] == [
        "network_line",
        "network_household",
        "anonymous",
        "authenticated",
        "authenticated",
    ]
    for ref in (V, pid(IdKind.VISITOR, "other")):
        assert batched.store.edges_of(ref) == one_by_one.store.edges_of(ref)
    assert len(batched.audit.read(limit=100)) == len(one_by_one.audit.read(limit=100))


def test_erasing_a_subscriber_takes_its_logged_in_visitors_not_network_ones() -> None:
    svc = make_service()
    for cookie in ("c-own", "c-housemate"):
        grant(svc, subject=f"visitor:{cookie}")
    svc.recognise("c-own", IP_OTHER, 1, NOW, "personalisation", "S1")  # logged in as S1
    svc.recognise("c-housemate", IP_LINE, 1, NOW, "personalisation", None)  # S1's line only
    exported = svc.export("subscriber:S1", caller="dpo")
    assert pid(IdKind.VISITOR, "c-own") in exported["pseudonyms"]
    assert pid(IdKind.VISITOR, "c-housemate") not in exported["pseudonyms"]
    assert any(c["subject"] == pid(IdKind.VISITOR, "c-own") for c in exported["consent"])
    svc.erase("subscriber:S1", caller="dpo")
    own = svc.export("visitor:c-own", caller="dpo")
    assert own["identity_edges"] == [] and own["consent"] == []
    housemate = svc.export("visitor:c-housemate", caller="dpo")
    assert housemate["identity_edges"] and housemate["consent"]
