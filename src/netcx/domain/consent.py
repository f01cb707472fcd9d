"""Consent per subject and purpose: an append-only ledger of decisions; the latest one wins."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum

import msgspec

from netcx.errors import InvalidInput


class Purpose(StrEnum):
    """What a caller wants identity for; each needs its own consent."""

    ANALYTICS = "analytics"
    PERSONALISATION = "personalisation"
    MARKETING = "marketing"
    NUMBER_VERIFICATION = "number-verification"


_PURPOSES: dict[str, Purpose] = {
    **{p.value: p for p in Purpose},
    **{p.value.replace("-", "_"): p for p in Purpose},
}


def parse_purpose(value: str, field: str = "purpose") -> Purpose:
    """The Purpose named `value` (`number_verification` spelt with an underscore too), or
    InvalidInput listing the accepted names."""
    found = _PURPOSES.get(value)
    if found is None:
        accepted = ", ".join(p.value for p in Purpose)
        raise InvalidInput(f"unknown purpose {value!r} (one of: {accepted})", field=field)
    return found


class ConsentDecision(msgspec.Struct, frozen=True):
    """One grant or revocation, as the subject gave it.

    `subject` is a pseudonym (visitor, line, subscriber …); `source` says where the decision
    was captured (tag, api, cli, call-centre, app); `text_version` names the consent text the
    subject saw; `at_ms` is when the subject decided.
    """

    subject: str
    purpose: Purpose
    granted: bool
    at_ms: int
    source: str
    text_version: str


def latest_decisions(history: Iterable[ConsentDecision]) -> dict[Purpose, ConsentDecision]:
    """The decision in force per purpose: the latest by `at_ms`; on a tie the one recorded
    last (ledger order), so a revocation sent in the same millisecond as a grant wins."""
    current: dict[Purpose, ConsentDecision] = {}
    for decision in history:
        held = current.get(decision.purpose)
        if held is None or decision.at_ms >= held.at_ms:
            current[decision.purpose] = decision
    return current


def is_granted(history: Iterable[ConsentDecision], purpose: Purpose) -> bool:
    """True only when the latest decision for `purpose` is a grant (no decision: no consent)."""
    decision = latest_decisions(history).get(purpose)
    return decision is not None and decision.granted


def is_revoked(history: Iterable[ConsentDecision], purpose: Purpose) -> bool:
    """True when the latest decision for `purpose` is an explicit refusal or revocation."""
    decision = latest_decisions(history).get(purpose)
    return decision is not None and not decision.granted


def resolution_allowed(
    purpose: Purpose,
    visitor_history: Sequence[ConsentDecision] | None,
    holder_histories: Sequence[Sequence[ConsentDecision]] = (),
) -> bool:
    """May network resolution run (and its answer be used) for `purpose`?

    The visitor's own grant is required when a visitor is known (web, app). Without a
    visitor (a server-to-server call such as number verification), the resolved line's or
    subscriber's grant is required instead. Either way, an explicit revocation recorded for
    the resolved line or subscriber (e.g. told to the call centre) vetoes the answer.
    """
    if any(is_revoked(h, purpose) for h in holder_histories):
        return False
    if visitor_history is not None:
        return is_granted(visitor_history, purpose)
    return any(is_granted(h, purpose) for h in holder_histories)


def kept_after_purge(history: Sequence[ConsentDecision], before_ms: int) -> list[ConsentDecision]:
    """The decisions a retention purge keeps, in ledger order: everything from `before_ms`
    on, plus the decision in force for each purpose however old (it is the proof of consent)."""
    in_force = {id(d) for d in latest_decisions(history).values()}
    return [d for d in history if d.at_ms >= before_ms or id(d) in in_force]
