"""Retention per data kind, subject references, and what export/erasure report."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Set
from enum import StrEnum
from typing import Any

import msgspec

from netcx.domain import events
from netcx.domain.events import Event
from netcx.domain.intents.scoring import IntentScore, SubjectState, encode_evidence, intents_view
from netcx.domain.pseudonyms import IdKind, Pseudonymizer, kind_of_pseudonym
from netcx.errors import InvalidInput

DAY_MS = 86_400_000


class DataKind(StrEnum):
    """Kinds of stored personal data, each with its own retention period."""

    NETWORK_EDGES = "network_edges"  # visitor ↔ line/household from network evidence
    LOGIN_EDGES = "login_edges"  # visitor ↔ subscriber from logins
    CRM_EDGES = "crm_edges"  # line/subscriber/household/account links
    CONSENT = "consent"  # superseded consent decisions (the one in force is always kept)
    AUDIT = "audit"  # resolution and data-subject-request audit records
    EVENTS = "events"  # collected web/app events (by when they were received)


DEFAULT_RETENTION_DAYS: Mapping[DataKind, int] = {
    DataKind.NETWORK_EDGES: 30,
    DataKind.LOGIN_EDGES: 395,
    DataKind.CRM_EDGES: 395,
    DataKind.CONSENT: 1095,
    DataKind.AUDIT: 365,
    DataKind.EVENTS: 395,
}


class RetentionPolicy(msgspec.Struct, frozen=True):
    """Days to keep each data kind after it was last seen (or recorded)."""

    days: dict[DataKind, int]

    @classmethod
    def from_days(cls, overrides: Mapping[str, int] | None = None) -> RetentionPolicy:
        """Defaults overlaid with `overrides` (data kind name → days); bad names or
        negative days raise InvalidInput naming the entry."""
        days = dict(DEFAULT_RETENTION_DAYS)
        for name, value in (overrides or {}).items():
            try:
                kind = DataKind(name)
            except ValueError:
                accepted = ", ".join(k.value for k in DataKind)
                raise InvalidInput(
                    f"unknown data kind {name!r} (one of: {accepted})", field="retention"
                ) from None
            if value < 0:
                raise InvalidInput(f"must be >= 0 days, got {value}", field=f"retention.{name}")
            days[kind] = value
        return cls(days=days)

    def cutoff_ms(self, kind: DataKind, now_ms: int) -> int:
        """Data of `kind` last seen before this moment is due for deletion."""
        return now_ms - self.days[kind] * DAY_MS


_SUBJECT_KINDS: Mapping[str, IdKind] = {
    "visitor": IdKind.VISITOR,
    "device": IdKind.DEVICE,
    "line": IdKind.LINE,
    "subscriber": IdKind.SUBSCRIBER,
    "household": IdKind.HOUSEHOLD,
    "account": IdKind.ACCOUNT,
}


def parse_subject_ref(ref: str) -> tuple[IdKind, str | None]:
    """Split a subject reference: a pseudonym (`vi1_…`) → (kind, None); `kind:raw_id`
    (`visitor:abc`, `subscriber:S123`) → (kind, raw_id). Anything else: InvalidInput."""
    kind = kind_of_pseudonym(ref)
    if kind is not None and kind is not IdKind.EVIDENCE:
        return kind, None
    name, sep, raw = ref.partition(":")
    if sep and raw and name in _SUBJECT_KINDS:
        return _SUBJECT_KINDS[name], raw
    accepted = ", ".join(f"{k}:<id>" for k in _SUBJECT_KINDS)
    raise InvalidInput(
        f"{ref[:64]!r} is neither a pseudonym (e.g. vi1_…) nor one of {accepted}",
        field="subject",
    )


def subject_pseudonyms(ref: str, pseudonym: Callable[[IdKind, str], list[str]]) -> list[str]:
    """Every pseudonym a subject reference may be stored under: the pseudonym itself, or the
    raw id hashed under each key version `pseudonym(kind, raw)` returns (current first)."""
    kind, raw = parse_subject_ref(ref)
    return [ref] if raw is None else pseudonym(kind, raw)


class AuditAction(StrEnum):
    RESOLVE = "resolve"
    CONTEXT = "context"  # a caller read a profile's context
    CONSENT = "consent"
    UNMERGE = "unmerge"
    EXPORT = "export"
    ERASE = "erase"
    PURGE = "purge"


class AuditRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    """One audited act: who (caller) did what, for which purpose, on what evidence, when.

    Holds pseudonyms only: `subject` is a visitor/line/… pseudonym, `evidence` the
    pseudonymised refs of the network records that supported an answer.
    """

    at_ms: int
    action: AuditAction
    caller: str
    subject: str = ""
    purpose: str = ""
    outcome: str = ""
    reason: str = ""
    evidence: tuple[str, ...] = ()


# ---------------------------------------------------------------- whose is a stored record


def event_pseudonyms(
    event: Event, recognition: events.Recognition | None, pseudonym: Callable[[IdKind, str], str]
) -> set[str]:
    """Every pseudonym an event is personal data of: its visitor (and the one it aliased),
    the logged-in user as subscriber, and every id it was recognised as. `pseudonym` maps
    a raw id to its pseudonym (call it once per key version to match older pseudonyms)."""
    out = set(recognition.ids.values()) if recognition is not None else set()
    for kind, raw in (
        (IdKind.VISITOR, event.visitor_id),
        (IdKind.VISITOR, event.previous_id),
        (IdKind.SUBSCRIBER, event.user_id),
    ):
        if raw:
            out.add(pseudonym(kind, raw))
    return out


def pseudonyms_under_every_key(pseudonymizer: Pseudonymizer) -> list[Callable[[IdKind, str], str]]:
    """One `pseudonym(kind, raw)` per key version held (memoised: erasure scans many
    records with the same ids)."""
    memo: dict[tuple[IdKind, str, str], str] = {}

    def under(version: str) -> Callable[[IdKind, str], str]:
        def pseudonym(kind: IdKind, raw: str) -> str:
            key = (kind, raw, version)
            if key not in memo:
                memo[key] = pseudonymizer.pseudonym(kind, raw, version=version)
            return memo[key]

        return pseudonym

    return [under(v) for v in pseudonymizer.versions]


def event_owner_test(
    subjects: Iterable[str], pseudonymizer: Pseudonymizer
) -> Callable[[events.StoredEvent], bool]:
    """Whether a stored event is personal data of one of `subjects` (`event_pseudonyms`),
    its raw ids hashed under every key version held, so a rotated key still matches."""
    wanted = set(subjects)
    versions = pseudonyms_under_every_key(pseudonymizer)

    def owned(stored: events.StoredEvent) -> bool:
        return any(event_pseudonyms(stored.event, stored.recognition, p) & wanted for p in versions)

    return owned


def exported_event(stored: events.StoredEvent) -> dict[str, Any]:
    """An event as a subject sees it in an export: everything but the client address (raw
    IPs never leave the network-identity boundary)."""
    view: dict[str, Any] = msgspec.to_builtins(stored.event)
    view.pop("client", None)
    if stored.recognition is not None:
        view["recognition"] = msgspec.to_builtins(stored.recognition)
    return view


def without_evidence_of(state: SubjectState, subjects: Set[str]) -> SubjectState | None:
    """`state` with the evidence that came from `subjects` (their page views that scored a
    line's or household's intent) removed; None when nothing was removed."""
    changed = False
    intents: dict[str, IntentScore] = {}
    for name, score in state.intents.items():
        evidence = score.evidence
        kept = [e for e in evidence if e.source not in subjects]
        if len(kept) != len(evidence):
            changed = True
            score = msgspec.structs.replace(score, evidence_msgpack=encode_evidence(kept))
        intents[name] = score
    return SubjectState(intents=intents) if changed else None


def evidence_of(state: SubjectState, subjects: Set[str]) -> list[dict[str, Any]]:
    """The evidence in `state` that came from `subjects` (for an export)."""
    return [
        {"intent": name, **msgspec.to_builtins(e)}
        for name, score in state.intents.items()
        for e in score.evidence
        if e.source in subjects
    ]


def export_intent_states(
    states: Iterable[tuple[str, SubjectState]], subjects: Set[str]
) -> list[dict[str, Any]]:
    """The subjects' own scorer states, and the evidence they left in others' (a line's or
    household's), for an export."""
    out: list[dict[str, Any]] = []
    for sid, state in states:
        if sid in subjects:
            out.append({"subject": sid, "intents": intents_view(state)})
        elif found := evidence_of(state, subjects):
            out.append({"subject": sid, "evidence_from_subject": found})
    return out
