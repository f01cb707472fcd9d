"""In-memory recognition, intent and CRM-facts sources (fakes until the identity and intents
areas are wired in, and for tests and benchmarks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from netcx.domain.decisions.context import (
    ANONYMOUS,
    ActiveIntent,
    CustomerFacts,
    Recognition,
    VisitQuery,
)


class StaticRecognitionSource:
    """Recognition per visitor id; unknown visitors are anonymous."""

    def __init__(self, by_visitor: Mapping[str, Recognition] | None = None) -> None:
        self.by_visitor = dict(by_visitor or {})

    def recognise(self, query: VisitQuery) -> Recognition:
        return self.by_visitor.get(query.visitor_id or "", ANONYMOUS)


class StaticIntentSource:
    """Active intents per visitor id (none for unknown visitors)."""

    def __init__(self, by_visitor: Mapping[str, Sequence[ActiveIntent]] | None = None) -> None:
        self.by_visitor = {k: tuple(v) for k, v in (by_visitor or {}).items()}

    def active_intents(self, query: VisitQuery, recognition: Recognition) -> Sequence[ActiveIntent]:
        return self.by_visitor.get(query.visitor_id or "", ())


class StaticFactsSource:
    """CRM facts per account pseudonym."""

    def __init__(self, by_account: Mapping[str, CustomerFacts] | None = None) -> None:
        self.by_account = dict(by_account or {})

    def facts(self, recognition: Recognition, at_ms: int) -> CustomerFacts:
        return self.by_account.get(recognition.account_id or "", CustomerFacts())
