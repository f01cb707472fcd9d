"""Rule matching: which intents one web/app event signals, with what weight and why."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import msgspec

from netcx.domain.intents.taxonomy import Family, Rule, Taxonomy, fold


class Signal(msgspec.Struct, frozen=True, omit_defaults=True):
    """The parts of one web/app event the taxonomy looks at (raw, not yet folded)."""

    ts_ms: int
    url: str = ""
    title: str = ""
    search_term: str = ""
    event_name: str = ""
    screen: str = ""
    ref: str = ""  # hit id / event id, carried into evidence


@dataclass(frozen=True, slots=True)
class Match:
    """The strongest rule of one intent that matched one event."""

    intent: str
    weight: float
    family: Family
    rule_id: str
    value: str  # the matched field (long digit runs masked)
    topic: str = ""


_DIGITS = re.compile(r"\d{6,}")
_MAX_VALUE = 160


def _evidence_value(text: str) -> str:
    # Search terms and screens can carry a phone or customer number: never keep long digit runs.
    return _DIGITS.sub("…", text)[:_MAX_VALUE]


@dataclass(frozen=True, slots=True)
class _Group:
    """All patterns of one intent with one weight in one family, as one regex."""

    intent: str
    weight: float
    regex: re.Pattern[str]
    rules: tuple[Rule, ...]

    def rule_for(self, matched: str) -> Rule:
        for rule in self.rules:
            if re.search(rule.pattern, matched):
                return rule
        return self.rules[0]


class Matcher:
    """Compiled taxonomy rules; `match(signal)` is the per-event hot path."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        by_key: dict[tuple[Family, str, float], list[Rule]] = {}
        for rule in taxonomy.rules:
            by_key.setdefault((rule.family, rule.intent, rule.weight), []).append(rule)
        self._families: dict[Family, tuple[re.Pattern[str], tuple[_Group, ...]]] = {}
        for family in Family:
            groups = sorted(
                (
                    _Group(
                        intent=intent,
                        weight=weight,
                        regex=re.compile("|".join(r.pattern for r in rules)),
                        rules=tuple(rules),
                    )
                    for (fam, intent, weight), rules in by_key.items()
                    if fam is family
                ),
                key=lambda g: -g.weight,
            )
            if groups:
                any_rule = re.compile("|".join(g.regex.pattern for g in groups))
                self._families[family] = (any_rule, tuple(groups))

    def fields(self, signal: Signal) -> list[tuple[Family, str, str]]:
        """(family, folded text, raw text for evidence) of every non-empty field of `signal`."""
        out: list[tuple[Family, str, str]] = []
        if signal.url:
            parts = urlsplit(signal.url)
            path = (
                f"{parts.netloc}{parts.path}"
                if parts.scheme not in ("http", "https")
                else parts.path
            )
            if path:
                out.append((Family.PATH, fold(path), path))
            if parts.query:
                out.append((Family.QUERY, fold(parts.query), ""))
        for family, raw in (
            (Family.TITLE, signal.title),
            (Family.SEARCH, signal.search_term),
            (Family.EVENT, signal.event_name),
            (Family.SCREEN, signal.screen),
        ):
            if raw:
                out.append((family, fold(raw), raw))
        return out

    def match(self, signal: Signal) -> list[Match]:
        """The strongest matching rule per intent (one event is one piece of evidence)."""
        best: dict[str, Match] = {}
        for family, text, raw in self.fields(signal):
            compiled = self._families.get(family)
            if compiled is None or compiled[0].search(text) is None:
                continue
            for group in compiled[1]:
                current = best.get(group.intent)
                if current is not None and current.weight >= group.weight:
                    continue
                found = group.regex.search(text)
                if found is None:
                    continue
                rule = group.rule_for(found.group(0))
                best[group.intent] = Match(
                    intent=group.intent,
                    weight=group.weight,
                    family=family,
                    rule_id=rule.rule_id,
                    topic=rule.topic,
                    # a query string is evidence only through the part that matched
                    value=_evidence_value(raw or found.group(0)),
                )
        return list(best.values())
