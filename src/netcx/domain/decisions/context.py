"""What a decision is made from: recognition, consent, active intents and customer facts."""

from __future__ import annotations

from enum import StrEnum

import msgspec


class RecognitionState(StrEnum):
    """Recognition states, weakest to strongest (the SESSION_IDENTITY `recognition` values)."""

    ANONYMOUS = "anonymous"
    NETWORK_HOUSEHOLD = "network_household"
    NETWORK_LINE = "network_line"
    AUTHENTICATED = "authenticated"


RECOGNISED = frozenset(
    {
        RecognitionState.NETWORK_HOUSEHOLD,
        RecognitionState.NETWORK_LINE,
        RecognitionState.AUTHENTICATED,
    }
)


class Consent(msgspec.Struct, frozen=True, gc=False):
    """Consent per purpose at decision time."""

    analytics: bool = False
    personalisation: bool = False
    marketing: bool = False


class Recognition(msgspec.Struct, frozen=True, gc=False):
    """Who the visitor is, as far as identity knows; ids are internal pseudonyms."""

    state: RecognitionState = RecognitionState.ANONYMOUS
    level: str = "unknown"  # line | household | unknown (network evidence) or login
    confidence: float = 0.0
    reason: str = ""
    consent: Consent = Consent()
    line_id: str | None = None
    subscriber_id: str | None = None
    household_id: str | None = None
    account_id: str | None = None

    @property
    def recognised(self) -> bool:
        return self.state in RECOGNISED

    def for_purpose(self, purpose: str) -> Recognition:
        """The recognition a decision for `purpose` may use: anonymous without its consent."""
        if self.recognised and not getattr(self.consent, purpose, False):
            return Recognition(
                state=RecognitionState.ANONYMOUS,
                reason=f"no_{purpose}_consent",
                consent=self.consent,
            )
        return self


ANONYMOUS = Recognition()


class ActiveIntent(msgspec.Struct, frozen=True, gc=False):
    """An intent that has emerged in the visitor's session, with its score and evidence."""

    name: str
    score: float
    evidence: tuple[str, ...] = ()
    emerged_ms: int | None = None


class Outage(msgspec.Struct, frozen=True, gc=False):
    """An outage affecting the visitor's line area."""

    outage_id: str
    area_id: str
    start_ms: int
    end_ms: int
    eta_ms: int


class CustomerFacts(msgspec.Struct, frozen=True, gc=False):
    """What the CRM knows about the recognised line/account, as of decision time."""

    tariff: str | None = None
    device_model: str | None = None
    line_kind: str | None = None  # mobile | fixed
    segment: str | None = None
    area_id: str | None = None
    customer_since_ms: int | None = None
    contract_end_ms: int | None = None
    outage: Outage | None = None
    last_churn_ms: int | None = None
    last_upgrade_ms: int | None = None


NO_FACTS = CustomerFacts()


class DecisionContext(msgspec.Struct, frozen=True, gc=False):
    """Everything one decision needs; the clock reading is `at_ms`."""

    at_ms: int
    channel: str
    recognition: Recognition = ANONYMOUS
    intents: tuple[ActiveIntent, ...] = ()
    facts: CustomerFacts = NO_FACTS
    session_id: str | None = None
    visitor_id: str | None = None
    purpose: str = "personalisation"


class Contact(msgspec.Struct, frozen=True, gc=False):
    """A past decision that chose something for an account (shown or held out).

    The session is the unit of contact: repeating an experience on the next page of the same
    session is not a new contact.
    """

    at_ms: int
    channel: str
    session_id: str | None
    experience_ids: tuple[str, ...]
    categories: tuple[str, ...]


class VisitEvent(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """The event the visitor is producing right now (page view, search, click, login)."""

    type: str = "page"
    url: str | None = None
    title: str | None = None
    search_term: str | None = None
    referrer: str | None = None
    ts_ms: int | None = None


class VisitQuery(msgspec.Struct, frozen=True, gc=False):
    """One decide call as the identity and intent sources see it.

    `client_ip`/`client_port` are the raw network address for the identity area's resolver;
    they never leave that call and are never logged.
    """

    at_ms: int
    channel: str
    purpose: str = "personalisation"
    visitor_id: str | None = None
    session_id: str | None = None
    event: VisitEvent | None = None
    client_ip: str | None = None
    client_port: int | None = None
