"""The intent taxonomy: intents, their matching rules per event family, thresholds and decay."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from netcx.errors import ConfigError

NONE_INTENT = "none"
"""Label of a session (or subject) in which no intent emerged."""


class Family(StrEnum):
    """Which part of an event a rule looks at."""

    PATH = "path"  # URL path
    QUERY = "query"  # URL query string
    TITLE = "title"  # page title
    EVENT = "event"  # event (click) name
    SEARCH = "search"  # site-search term
    SCREEN = "screen"  # app screen name


_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def fold(text: str) -> str:
    """Normalise text for matching: URL-unescape, lower-case, fold German umlauts and ß."""
    if "%" in text or "+" in text:
        text = unquote_plus(text)
    return text.lower().translate(_FOLD)


@dataclass(frozen=True, slots=True)
class Rule:
    """One pattern of one intent in one family; `rule_id` names it in evidence and errors."""

    rule_id: str  # e.g. "churn_research.rules[0]:kuendig"
    intent: str
    family: Family
    lang: str
    weight: float
    pattern: str  # folded regular expression
    topic: str = ""  # optional facet of the intent, e.g. "porting" of churn_research


@dataclass(frozen=True, slots=True)
class IntentDef:
    name: str
    description: str
    half_life_s: float


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """A validated taxonomy; build it with `parse_taxonomy`."""

    intents: Mapping[str, IntentDef]
    rules: tuple[Rule, ...]
    threshold: float
    active_ratio: float  # an emerged intent stays active while score >= threshold * ratio
    max_evidence: int

    @property
    def intent_names(self) -> tuple[str, ...]:
        return tuple(self.intents)


# ---------------------------------------------------------------- file schema (validated once)


class _RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    family: Family
    lang: Literal["de", "en", "any"] = "any"
    weight: float = Field(default=1.0, gt=0, le=10)
    match: list[str] = Field(default_factory=list)
    regex: list[str] = Field(default_factory=list)
    topic: str = Field(default="", pattern=r"^(?:[a-z][a-z0-9_]*)?$")

    @field_validator("match", "regex")
    @classmethod
    def _no_blank(cls, values: list[str]) -> list[str]:
        for i, v in enumerate(values):
            if not v.strip():
                raise ValueError(f"entry {i} is blank (it would match everything)")
        return values


class _IntentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    half_life_s: float | None = Field(default=None, gt=0)
    rules: list[_RuleSpec] = Field(min_length=1)


class _TaxonomySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    threshold: float = Field(default=1.0, gt=0)
    active_ratio: float = Field(default=0.5, gt=0, le=1)
    max_evidence: int = Field(default=12, ge=1, le=1000)
    default_half_life_s: float = Field(default=1800.0, gt=0)
    intents: dict[str, _IntentSpec] = Field(min_length=1)


_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def parse_taxonomy(data: Any, source: str) -> Taxonomy:
    """Validate a parsed taxonomy document; errors name `source` and the offending entry."""
    try:
        spec = _TaxonomySpec.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{_entry(e['loc'])}: {e['msg']}" for e in err.errors(include_url=False)
        )
        raise ConfigError(f"{source}: invalid taxonomy: {problems}") from err
    intents: dict[str, IntentDef] = {}
    rules: list[Rule] = []
    for name, ispec in spec.intents.items():
        if name == NONE_INTENT or not _NAME.match(name):
            raise ConfigError(
                f"{source}: intents.{name}: an intent name must be lower_snake_case and not "
                f"'{NONE_INTENT}'"
            )
        intents[name] = IntentDef(
            name=name,
            description=ispec.description,
            half_life_s=ispec.half_life_s or spec.default_half_life_s,
        )
        for i, rspec in enumerate(ispec.rules):
            where = f"intents.{name}.rules[{i}]"
            if not rspec.match and not rspec.regex:
                raise ConfigError(f"{source}: {where}: needs at least one 'match' or 'regex'")
            patterns = [re.escape(fold(m)) for m in rspec.match]
            for j, rx in enumerate(rspec.regex):
                try:
                    compiled = re.compile(rx)
                except re.error as err:
                    raise ConfigError(
                        f"{source}: {where}.regex[{j}]: not a valid regular expression: {err}"
                    ) from err
                if compiled.groups:
                    # groups would break the combined matcher; (?:...) is the same pattern
                    raise ConfigError(
                        f"{source}: {where}.regex[{j}]: use non-capturing groups (?:...)"
                    )
                if compiled.match(""):
                    raise ConfigError(f"{source}: {where}.regex[{j}]: matches the empty string")
                patterns.append(rx)
            for raw, pattern in zip([*rspec.match, *rspec.regex], patterns, strict=True):
                rules.append(
                    Rule(
                        rule_id=f"{name}.rules[{i}]:{raw}",
                        intent=name,
                        family=rspec.family,
                        lang=rspec.lang,
                        weight=rspec.weight,
                        pattern=pattern,
                        topic=rspec.topic,
                    )
                )
    return Taxonomy(
        intents=intents,
        rules=tuple(rules),
        threshold=spec.threshold,
        active_ratio=spec.active_ratio,
        max_evidence=spec.max_evidence,
    )


def _entry(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"
