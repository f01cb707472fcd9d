"""Each rule family of the shipped taxonomy, in German and English, for every intent."""

from __future__ import annotations

import pytest

from netcx.domain.intents.matching import Matcher, Signal

# (intent, family, lang, the event) — one case per family and language
CASES: list[tuple[str, str, str, Signal]] = [
    # ---- path
    ("churn_research", "path", "de", Signal(0, url="https://www.example.de/service/kuendigung")),
    ("churn_research", "path", "en", Signal(0, url="https://www.example.com/help/cancel-contract")),
    ("churn_research", "path", "de", Signal(0, url="https://example.de/rufnummernmitnahme")),
    ("tariff_comparison", "path", "de", Signal(0, url="https://example.de/tarife/vergleich")),
    ("tariff_comparison", "path", "en", Signal(0, url="https://example.com/plans/compare-plans")),
    ("upgrade", "path", "de", Signal(0, url="https://example.de/vertragsverlaengerung")),
    ("upgrade", "path", "en", Signal(0, url="https://example.com/shop/upgrade")),
    ("device_compatibility", "path", "de", Signal(0, url="https://example.de/hilfe/esim")),
    ("device_compatibility", "path", "en", Signal(0, url="https://example.com/device-check")),
    ("roaming", "path", "de", Signal(0, url="https://example.de/ausland/eu-roaming")),
    ("roaming", "path", "en", Signal(0, url="https://example.com/travel/roaming")),
    ("fibre_availability", "path", "de", Signal(0, url="https://example.de/glasfaser")),
    ("fibre_availability", "path", "en", Signal(0, url="https://example.com/fibre/availability")),
    ("outage", "path", "de", Signal(0, url="https://example.de/hilfe/st%C3%B6rung")),
    ("outage", "path", "en", Signal(0, url="https://example.com/service-status")),
    ("billing_problem", "path", "de", Signal(0, url="https://example.de/meine-rechnung")),
    ("billing_problem", "path", "en", Signal(0, url="https://example.com/account/bill")),
    # ---- query
    ("churn_research", "query", "de", Signal(0, url="https://example.de/hilfe?topic=kuendigung")),
    ("churn_research", "query", "en", Signal(0, url="https://example.com/help?topic=cancel")),
    ("fibre_availability", "query", "de", Signal(0, url="https://example.de/check?plz=10115")),
    ("fibre_availability", "query", "en", Signal(0, url="https://example.com/check?postcode=E1")),
    # ---- title
    ("churn_research", "title", "de", Signal(0, title="Vertrag kündigen | Example")),
    ("churn_research", "title", "en", Signal(0, title="Cancel your contract | Example")),
    ("tariff_comparison", "title", "de", Signal(0, title="Alle Tarife im Überblick")),
    ("tariff_comparison", "title", "en", Signal(0, title="Compare plans")),
    ("upgrade", "title", "de", Signal(0, title="Vertragsverlängerung mit neuem Smartphone")),
    ("upgrade", "title", "en", Signal(0, title="Upgrade your phone")),
    ("device_compatibility", "title", "de", Signal(0, title="Ist mein Gerät eSIM-kompatibel?")),
    ("device_compatibility", "title", "en", Signal(0, title="eSIM supported devices")),
    ("roaming", "title", "de", Signal(0, title="Reisen: Telefonieren im Ausland")),
    ("roaming", "title", "en", Signal(0, title="Using your phone abroad")),
    ("fibre_availability", "title", "de", Signal(0, title="Glasfaser-Verfügbarkeit prüfen")),
    ("fibre_availability", "title", "en", Signal(0, title="Check fibre availability")),
    ("outage", "title", "de", Signal(0, title="Störungen und Netzstatus")),
    ("outage", "title", "en", Signal(0, title="Service status")),
    ("billing_problem", "title", "de", Signal(0, title="Ihre Rechnung verstehen")),
    ("billing_problem", "title", "en", Signal(0, title="Understand your bill")),
    # ---- event names
    ("churn_research", "event", "de", Signal(0, event_name="kuendigung_start")),
    ("churn_research", "event", "en", Signal(0, event_name="cancel_contract")),
    ("upgrade", "event", "de", Signal(0, event_name="verlaengern_click")),
    ("upgrade", "event", "en", Signal(0, event_name="upgrade_start")),
    ("fibre_availability", "event", "en", Signal(0, event_name="availability_check")),
    ("outage", "event", "de", Signal(0, event_name="stoerung_melden")),
    ("billing_problem", "event", "en", Signal(0, event_name="bill_dispute")),
    # ---- site search
    ("churn_research", "search", "de", Signal(0, search_term="Kündigungsfrist Handyvertrag")),
    ("churn_research", "search", "en", Signal(0, search_term="how to port my number")),
    ("tariff_comparison", "search", "de", Signal(0, search_term="günstiger Tarif")),
    ("tariff_comparison", "search", "en", Signal(0, search_term="cheaper plan")),
    ("upgrade", "search", "de", Signal(0, search_term="neues Handy")),
    ("upgrade", "search", "en", Signal(0, search_term="upgrade iphone")),
    ("device_compatibility", "search", "de", Signal(0, search_term="esim einrichten")),
    ("device_compatibility", "search", "en", Signal(0, search_term="does my phone support 5g")),
    ("roaming", "search", "de", Signal(0, search_term="Urlaub Türkei")),
    ("roaming", "search", "en", Signal(0, search_term="roaming usa")),
    ("fibre_availability", "search", "de", Signal(0, search_term="Glasfaser verfügbar")),
    ("fibre_availability", "search", "en", Signal(0, search_term="fiber broadband")),
    ("outage", "search", "de", Signal(0, search_term="Internet geht nicht")),
    ("outage", "search", "en", Signal(0, search_term="internet down")),
    ("billing_problem", "search", "de", Signal(0, search_term="Rechnung zu hoch")),
    ("billing_problem", "search", "en", Signal(0, search_term="charged twice refund")),
    # ---- app screens
    ("churn_research", "screen", "de", Signal(0, screen="vertrag/kuendigen")),
    ("churn_research", "screen", "en", Signal(0, screen="contract/cancel")),
    ("roaming", "screen", "en", Signal(0, screen="travel/roaming_pass")),
    ("outage", "screen", "de", Signal(0, screen="hilfe/stoerung")),
    ("billing_problem", "screen", "de", Signal(0, screen="rechnung/details")),
]


@pytest.mark.parametrize(
    ("intent", "family", "lang", "signal"),
    CASES,
    ids=[f"{c[0]}-{c[1]}-{c[2]}-{i}" for i, c in enumerate(CASES)],
)
def test_rule_family_matches_its_intent(
    matcher: Matcher, intent: str, family: str, lang: str, signal: Signal
) -> None:
    matches = {m.intent: m for m in matcher.match(signal)}
    assert intent in matches, f"{intent} not matched by {signal}"
    assert matches[intent].family.value == family
    assert matches[intent].rule_id.startswith(f"{intent}.rules[")


@pytest.mark.parametrize(
    "signal",
    [
        Signal(0, url="https://www.example.de/", title="Startseite"),
        Signal(0, url="https://www.example.com/about-us", title="About us"),
        Signal(0, url="https://www.example.de/karriere", title="Jobs bei Example"),
        Signal(0, search_term="öffnungszeiten"),
        Signal(0, url="app://home", screen="home"),
    ],
)
def test_neutral_pages_signal_nothing(matcher: Matcher, signal: Signal) -> None:
    assert matcher.match(signal) == []


def test_umlaut_spellings_and_url_escapes_match_alike(matcher: Matcher) -> None:
    spellings = [
        Signal(0, search_term="kündigen"),
        Signal(0, search_term="kuendigen"),
        Signal(0, search_term="KÜNDIGEN"),
        Signal(0, url="https://example.de/k%C3%BCndigen"),
    ]
    for s in spellings:
        assert [m.intent for m in matcher.match(s)] == ["churn_research"], s


def test_one_event_counts_once_per_intent_with_its_strongest_rule(matcher: Matcher) -> None:
    s = Signal(0, url="https://example.de/kuendigung?topic=kuendigung", title="Kündigung")
    [m] = matcher.match(s)
    assert m.weight == 1.0
    assert m.family.value == "path"


def test_evidence_never_keeps_long_digit_runs(matcher: Matcher) -> None:
    [m] = matcher.match(Signal(0, search_term="kündigen 015112345678"))
    assert "015112345678" not in m.value
    assert m.value.startswith("kündigen")


def test_query_evidence_keeps_only_the_matched_part(matcher: Matcher) -> None:
    [m] = matcher.match(Signal(0, url="https://example.com/help?email=a@b.c&topic=cancel"))
    assert m.value == "topic=cancel"


@pytest.mark.parametrize(
    ("signal", "topic"),
    [
        (Signal(0, url="https://example.de/rufnummernmitnahme"), "porting"),
        (Signal(0, search_term="port my number"), "porting"),
        (Signal(0, url="https://example.de/kuendigung"), "cancellation"),
        (Signal(0, title="Cancel your contract"), "cancellation"),
        (Signal(0, url="https://example.de/vergleich-anbieter"), "competitor"),
        (Signal(0, search_term="anbieter wechseln"), "competitor"),
    ],
)
def test_churn_research_names_its_topic(matcher: Matcher, signal: Signal, topic: str) -> None:
    [m] = matcher.match(signal)
    assert (m.intent, m.topic) == ("churn_research", topic)
