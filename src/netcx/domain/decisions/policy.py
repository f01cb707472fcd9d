"""The decision policy: experiences with eligibility and priority, guards, contact rules, holdouts.

A policy is YAML validated once at load; any bad entry raises ConfigError naming the file,
the line and the entry (`experiences[3] 'roaming_option'`), and nothing half-valid is used.
"""

from __future__ import annotations

import re
import string
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from netcx.domain.decisions.context import RecognitionState
from netcx.errors import ConfigError

INTENTS = frozenset(
    {
        "churn_research",
        "tariff_comparison",
        "upgrade",
        "device_compatibility",
        "roaming",
        "fibre_availability",
        "outage",
        "billing_problem",
    }
)
"""The intent taxonomy the policy may name (the intents area's default taxonomy)."""

FACTS = frozenset({"outage_active", "loyal", "upgrade_eligible", "mobile_line", "fixed_line"})
"""Boolean facts an experience may require or exclude (computed from CustomerFacts)."""

PARAM_FIELDS = frozenset(
    {
        "tariff",
        "device_model",
        "line_kind",
        "contract_end_ms",
        "outage_id",
        "outage_eta_ms",
        "option",
        "intent",
    }
)
"""Names a parameter template may use, e.g. `"Back by {outage_eta_ms}"`."""

Slot = Literal["in_session", "follow_up"]
Category = Literal["retention", "upgrade", "service", "acquisition", "generic"]
Channel = Literal["web", "app", "any"]
Event = Literal["churn", "upgrade"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Experience(_Strict):
    """One thing netcx can show in session or hand to the CVM as a follow-up."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    slot: Slot
    category: Category
    priority: int = Field(ge=0, le=1000)
    intents: tuple[str, ...] = ()  # empty: any (or no) intent
    recognition: tuple[RecognitionState, ...]
    min_score: float = Field(default=0.0, ge=0.0)
    channels: tuple[Channel, ...] = ("any",)
    requires: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    cooldown_s: int = Field(default=0, ge=0)
    holdout_share: float = Field(default=0.0, ge=0.0, lt=1.0)
    hand_off: bool = False
    option_by_tariff: dict[str, str] = Field(default_factory=dict)  # "*" is the default
    params: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_names(self) -> Experience:
        unknown = [i for i in self.intents if i not in INTENTS]
        if unknown:
            raise ValueError(f"intents: unknown intent(s) {unknown}; known: {sorted(INTENTS)}")
        for key in ("requires", "unless"):
            bad = [f for f in getattr(self, key) if f not in FACTS]
            if bad:
                raise ValueError(f"{key}: unknown fact(s) {bad}; known: {sorted(FACTS)}")
        for name, template in self.params.items():
            try:
                fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
            except ValueError as err:
                raise ValueError(f"params.{name}: bad template {template!r}: {err}") from err
            bad = sorted(fields - PARAM_FIELDS)
            if bad:
                raise ValueError(
                    f"params.{name}: unknown field(s) {bad}; known: {sorted(PARAM_FIELDS)}"
                )
            if "option" in fields and not self.option_by_tariff:
                raise ValueError(f"params.{name}: uses {{option}} but option_by_tariff is empty")
        if not self.recognition:
            raise ValueError("recognition: list at least one recognition state")
        return self

    @property
    def for_prospects_only(self) -> bool:
        return set(self.recognition) == {RecognitionState.ANONYMOUS}


class GuardWhen(_Strict):
    """Condition of a guard: an active intent and/or a recognised visitor."""

    intent: str | None = None
    recognised: bool | None = None

    @model_validator(mode="after")
    def _check(self) -> GuardWhen:
        if self.intent is None and self.recognised is None:
            raise ValueError("when: give `intent` and/or `recognised`")
        if self.intent is not None and self.intent not in INTENTS:
            raise ValueError(f"when.intent: unknown intent {self.intent!r}")
        return self


class Guard(_Strict):
    """A rule no experience may break, e.g. never an acquisition offer to a leaving subscriber."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    when: GuardWhen
    forbid_categories: tuple[Category, ...]


class FrequencyCap(_Strict):
    """At most `max_contacts` sessions with a contact per account (and channel) per window."""

    channel: Channel = "any"
    max_contacts: int = Field(ge=1)
    window_s: int = Field(ge=1)
    categories: tuple[Category, ...] = ("retention", "upgrade", "service", "acquisition", "generic")


class Suppression(_Strict):
    """After a churn/upgrade event, suppress these categories for `within_s`."""

    after: Event
    within_s: int = Field(ge=1)
    categories: tuple[Category, ...]


class ContactPolicy(_Strict):
    caps: tuple[FrequencyCap, ...] = ()
    suppression: tuple[Suppression, ...] = ()


class Holdouts(_Strict):
    """A universal control group and the salt of the sticky account hash."""

    salt: str = Field(min_length=8)
    universal_share: float = Field(default=0.0, ge=0.0, lt=1.0)


class FactRules(_Strict):
    """Thresholds that turn CRM facts into the boolean facts experiences require."""

    loyal_tenure_days: int = Field(default=730, ge=0)
    upgrade_window_days: int = Field(default=90, ge=0)


class Policy(_Strict):
    """A whole policy file."""

    version: Literal[1]
    name: str
    holdouts: Holdouts
    facts: FactRules = FactRules()
    contact: ContactPolicy = ContactPolicy()
    guards: tuple[Guard, ...] = ()
    experiences: tuple[Experience, ...]

    @model_validator(mode="after")
    def _check_consistency(self) -> Policy:
        seen: set[str] = set()
        for i, exp in enumerate(self.experiences):
            if exp.id in seen:
                raise _EntryError(i, exp.id, f"duplicate experience id {exp.id!r}")
            seen.add(exp.id)
            for guard in self.guards:
                violated = exp.category in guard.forbid_categories and (
                    (guard.when.intent is not None and guard.when.intent in exp.intents)
                    or (guard.when.recognised and not exp.for_prospects_only)
                )
                if violated:
                    raise _EntryError(
                        i, exp.id, f"category {exp.category!r} breaks guard {guard.name!r}"
                    )
        return self

    def experience(self, experience_id: str) -> Experience:
        for exp in self.experiences:
            if exp.id == experience_id:
                return exp
        raise KeyError(experience_id)


class _EntryError(ValueError):
    """A cross-field problem located at experiences[index]."""

    def __init__(self, index: int, exp_id: str, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.exp_id = exp_id


def load_policy(text: str, source: str) -> Policy:
    """Parse and validate policy YAML; raise ConfigError naming file, line and entry."""
    try:
        root = yaml.compose(text)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a policy is a mapping with `experiences`")
    try:
        return Policy.model_validate(data)
    except ValidationError as err:
        problems = [_problem(source, root, data, e) for e in err.errors()[:5]]
        more = err.error_count() - len(problems)
        raise ConfigError(
            "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")
        ) from err


def _problem(source: str, root: yaml.Node | None, data: dict[str, Any], error: Any) -> str:
    loc = tuple(p for p in error["loc"] if not str(p).startswith("function-"))
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, _EntryError):
        loc, message = ("experiences", cause.index), str(cause)
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
    # Model-level checks say "field: problem"; point the line at that field.
    head, _, rest = message.partition(": ")
    if rest and re.fullmatch(r"[a-z_]+(\.[A-Za-z0-9_]+)*", head):
        loc, message = (*loc, *head.split(".")), rest
    return ": ".join(_location(source, root, data, loc)) + f": {message}"


def _location(
    source: str, root: yaml.Node | None, data: dict[str, Any], loc: tuple[Any, ...]
) -> list[str]:
    """[`file:line`, entry, field] for the deepest node of `loc` that exists."""
    node, line = root, 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if getattr(k, "value", None) == part]
            if not match:
                break
            node = match[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    out = [f"{source}:{line}"]
    field = loc
    if len(loc) >= 2 and loc[0] in ("experiences", "guards") and isinstance(loc[1], int):
        items = data.get(loc[0]) or []
        item = items[loc[1]] if loc[1] < len(items) else None
        name = (
            item.get("id" if loc[0] == "experiences" else "name")
            if isinstance(item, dict)
            else None
        )
        out.append(f"{loc[0]}[{loc[1]}]" + (f" {name!r}" if name else ""))
        field = loc[2:]
    if field:
        out.append(".".join(str(p) for p in field))
    return out
