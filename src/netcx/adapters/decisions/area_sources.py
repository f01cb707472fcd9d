"""Decision sources over the identity and intents areas' services.

Typed structurally (the Protocols below describe what is used of `IdentityService` and
`IntentService`), so this module imports neither area: bootstrap passes the services in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from netcx.domain.decisions.context import (
    ANONYMOUS,
    ActiveIntent,
    Consent,
    Recognition,
    RecognitionState,
    VisitQuery,
)

PURPOSES = ("analytics", "personalisation", "marketing")
# No client address: an address outside every pool resolves to nobody (not a bind).
NOT_OURS = "0.0.0.0"  # noqa: S104
_LEVEL = {
    RecognitionState.ANONYMOUS: "unknown",
    RecognitionState.NETWORK_HOUSEHOLD: "household",
    RecognitionState.NETWORK_LINE: "line",
    RecognitionState.AUTHENTICATED: "login",
}


class _IdentityAnswer(Protocol):
    @property
    def level(self) -> Any: ...  # a StrEnum: anonymous | network_household | ...
    @property
    def reason(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def ids(self) -> Mapping[str, str]: ...


class IdentityLike(Protocol):
    def recognise(
        self,
        visitor_id: str,
        ip: str,
        port: int | None,
        at_ms: int,
        purpose: str,
        user_id: str | None = None,
        caller: str = ...,
    ) -> _IdentityAnswer: ...

    def consent_view(self, subject_ref: str) -> dict[str, Any]: ...


class _Evidence(Protocol):
    @property
    def family(self) -> str: ...
    @property
    def value(self) -> str: ...


class _Active(Protocol):
    @property
    def intent(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def emerged_ms(self) -> int: ...
    @property
    def evidence(self) -> Sequence[_Evidence]: ...


class IntentsLike(Protocol):
    def score_event(self, signal: Any, subject_ids: Sequence[str]) -> Any: ...

    def active_intents(self, subject_ids: Sequence[str], at_ms: int) -> Sequence[_Active]: ...


SignalOf = Callable[[int, str | None, str | None, str | None, str | None, str | None], Any]
"""`services.intents.signal_from_hit(ts_ms, channel, event_type, url, title, search_term)`."""


class IdentityRecognitionSource:
    """RecognitionSource over the identity graph (consent applied there and here)."""

    def __init__(self, identity: IdentityLike) -> None:
        self._identity = identity

    def recognise(self, query: VisitQuery) -> Recognition:
        if not query.visitor_id:
            return ANONYMOUS
        answer = self._identity.recognise(
            query.visitor_id,
            query.client_ip or NOT_OURS,
            query.client_port,
            query.at_ms,
            query.purpose,
            caller="decide",
        )
        purposes = self._identity.consent_view(query.visitor_id).get("purposes") or {}
        consent = Consent(**{p: bool((purposes.get(p) or {}).get("granted")) for p in PURPOSES})
        state = RecognitionState(str(getattr(answer.level, "value", answer.level)))
        return Recognition(
            state=state,
            level=_LEVEL[state],
            confidence=answer.confidence,
            reason=answer.reason,
            consent=consent,
            line_id=answer.ids.get("line"),
            subscriber_id=answer.ids.get("subscriber"),
            household_id=answer.ids.get("household"),
            account_id=answer.ids.get("account"),
        )


class ScoredIntentSource:
    """SessionIntentSource over the real-time intent scorer: scores the current event for
    the visitor and whom it was recognised as, then reads their active intents."""

    def __init__(self, intents: IntentsLike, signal_of: SignalOf) -> None:
        self._intents = intents
        self._signal_of = signal_of

    def active_intents(self, query: VisitQuery, recognition: Recognition) -> list[ActiveIntent]:
        subjects = [
            s for s in (query.visitor_id, recognition.line_id, recognition.household_id) if s
        ]
        if not subjects:
            return []
        event = query.event
        if event is not None:
            signal = self._signal_of(
                event.ts_ms or query.at_ms,
                query.channel,
                event.type,
                event.url,
                event.title,
                event.search_term,
            )
            self._intents.score_event(signal, subjects)
        strongest: dict[str, ActiveIntent] = {}
        for a in self._intents.active_intents(subjects, query.at_ms):
            if a.intent not in strongest or a.score > strongest[a.intent].score:
                strongest[a.intent] = ActiveIntent(
                    a.intent,
                    a.score,
                    tuple(f"{e.family}:{e.value}" for e in a.evidence),
                    a.emerged_ms,
                )
        return sorted(strongest.values(), key=lambda i: -i.score)
