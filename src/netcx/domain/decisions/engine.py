"""Decide the next best experience: eligibility, guards, suppression, cooldowns, arbitration,
frequency caps and holdouts — pure, with the clock reading and contact history passed in."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from netcx.domain.decisions.context import (
    ActiveIntent,
    Contact,
    CustomerFacts,
    DecisionContext,
    RecognitionState,
)
from netcx.domain.decisions.holdouts import (
    UNIVERSAL,
    in_experience_holdout,
    in_universal_control,
)
from netcx.domain.decisions.policy import Experience, Policy

DAY_MS = 86_400_000


class ChosenExperience(msgspec.Struct, frozen=True, gc=False):
    """An experience the decision picked; `held_out` means logged as 'would have triggered'."""

    experience_id: str
    slot: str
    category: str
    intent: str | None
    reason_codes: tuple[str, ...]
    params: dict[str, str]
    held_out: bool = False
    hand_off: bool = False


class Rejection(msgspec.Struct, frozen=True, gc=False):
    """An eligible experience that was not chosen, and why (guard, cap, cooldown, arbitration)."""

    experience_id: str
    reason: str


class Decision(msgspec.Struct, frozen=True, gc=False):
    """The outcome of one decide call, as logged for audit and measurement."""

    decision_id: str
    at_ms: int
    channel: str
    recognition: RecognitionState
    account_id: str | None
    session_id: str | None
    visitor_id: str | None
    intent: str
    chosen: tuple[ChosenExperience, ...]
    rejected: tuple[Rejection, ...]
    universal_holdout: bool

    @property
    def shown(self) -> tuple[ChosenExperience, ...]:
        """What the caller may show or send: nothing for holdout members."""
        return tuple(c for c in self.chosen if not c.held_out)

    @property
    def holdout(self) -> bool:
        """True when something was chosen and all of it is held out."""
        return bool(self.chosen) and all(c.held_out for c in self.chosen)

    def exposure_cells(self) -> list[tuple[str, str]]:
        """The (scope, group) cells the account enters: the units of the SRM check."""
        if self.account_id is None or not self.chosen:
            return []
        if self.universal_holdout:
            return [(UNIVERSAL, "control")]
        return [(UNIVERSAL, "eligible")] + [
            (f"experience:{c.experience_id}", "held_out" if c.held_out else "treated")
            for c in self.chosen
        ]

    def contact(self) -> Contact | None:
        """The contact this decision counts towards caps and cooldowns (shown or held out)."""
        if not self.chosen:
            return None
        return Contact(
            self.at_ms,
            self.channel,
            self.session_id,
            tuple(c.experience_id for c in self.chosen),
            tuple(c.category for c in self.chosen),
        )


class _Rule(msgspec.Struct, frozen=True, gc=False):
    """An experience's eligibility compiled into sets (the hot path avoids model lookups)."""

    exp: Experience
    order: int
    recognition: frozenset[str]
    channels: frozenset[str] | None  # None: any channel
    intents: tuple[str, ...]
    requires: frozenset[str]
    unless: frozenset[str]


class _Candidate(msgspec.Struct):
    exp: Experience
    order: int
    intent: ActiveIntent | None


class DecisionEngine:
    """A validated policy compiled for fast repeated decisions."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        rules = [
            _Rule(
                exp=exp,
                order=order,
                recognition=frozenset(r.value for r in exp.recognition),
                channels=None if "any" in exp.channels else frozenset(exp.channels),
                intents=exp.intents,
                requires=frozenset(exp.requires),
                unless=frozenset(exp.unless),
            )
            for order, exp in enumerate(policy.experiences)
        ]
        # Only experiences naming an active intent (or none) can be eligible: index by intent.
        self._no_intent = [r for r in rules if not r.intents]
        self._by_intent: dict[str, list[_Rule]] = {}
        self._rules_cache: dict[frozenset[str], list[_Rule]] = {}
        for rule in rules:
            for name in rule.intents:
                self._by_intent.setdefault(name, []).append(rule)

    def _rules_for(self, intents: dict[str, ActiveIntent]) -> list[_Rule]:
        key = frozenset(intents)
        rules = self._rules_cache.get(key)
        if rules is None:
            found = {r.order: r for r in self._no_intent}
            for name in key:
                for r in self._by_intent.get(name, ()):
                    found[r.order] = r
            rules = sorted(found.values(), key=lambda r: (-r.exp.priority, r.order))
            if len(self._rules_cache) < 4096:  # bounded: intent sets come from the taxonomy
                self._rules_cache[key] = rules
        return rules

    def decide(
        self, ctx: DecisionContext, history: Sequence[Contact], decision_id: str
    ) -> Decision:
        """Choose at most one experience per slot for `ctx`; `history` is the account's contacts."""
        rec = ctx.recognition.for_purpose(ctx.purpose)
        recognised = rec.recognised
        account = rec.account_id if recognised else None
        facts = ctx.facts if recognised else CustomerFacts()
        intents = {i.name: i for i in ctx.intents}
        true_facts = self._true_facts(facts, ctx.at_ms)
        forbidden = self._forbidden(intents, recognised)
        suppressed = self._suppressed(facts, ctx.at_ms)

        rejected: list[Rejection] = []
        candidates: list[_Candidate] = []
        for rule in self._rules_for(intents):
            exp = rule.exp
            if rec.state not in rule.recognition:
                continue
            if rule.channels is not None and ctx.channel not in rule.channels:
                continue
            intent = _matched_intent(exp, intents)
            if rule.intents and intent is None:
                continue
            if not rule.requires <= true_facts or rule.unless & true_facts:
                continue
            if exp.category in forbidden:
                rejected.append(Rejection(exp.id, f"guard:{forbidden[exp.category]}"))
                continue
            if exp.category in suppressed:
                rejected.append(Rejection(exp.id, f"suppressed:after_{suppressed[exp.category]}"))
                continue
            if (
                account is not None
                and exp.cooldown_s
                and _in_cooldown(exp, history, ctx.at_ms, ctx.session_id)
            ):
                rejected.append(Rejection(exp.id, f"cooldown:{exp.cooldown_s}s"))
                continue
            candidates.append(_Candidate(exp, rule.order, intent))

        candidates.sort(
            key=lambda c: (-c.exp.priority, -(c.intent.score if c.intent else 0.0), c.order)
        )
        winners: dict[str, _Candidate] = {}
        for cand in candidates:
            won = winners.get(cand.exp.slot)
            if won is None:
                winners[cand.exp.slot] = cand
            else:
                rejected.append(Rejection(cand.exp.id, f"arbitration:lost_to:{won.exp.id}"))

        if winners and account is not None and self.policy.contact.caps:
            earlier = [c for c in history if c.session_id is None or c.session_id != ctx.session_id]
            for slot, cand in list(winners.items()):
                capped = self._capped(cand.exp.category, ctx.channel, earlier, ctx.at_ms)
                if capped:
                    rejected.append(Rejection(cand.exp.id, capped))
                    del winners[slot]

        salt = self.policy.holdouts.salt
        universal = account is not None and in_universal_control(
            salt, account, self.policy.holdouts.universal_share
        )
        chosen = []
        for slot in ("in_session", "follow_up"):
            winner = winners.get(slot)
            if winner is None:
                continue
            cand = winner
            exp = cand.exp
            held_out = universal or (
                account is not None
                and in_experience_holdout(salt, account, exp.id, exp.holdout_share)
            )
            codes = [f"recognition:{rec.state.value}", f"priority:{exp.priority}"]
            if cand.intent is not None:
                codes[:0] = [f"intent:{cand.intent.name}", f"score:{cand.intent.score:.2f}"]
            if recognised:
                codes.append(f"consent:{ctx.purpose}")
            codes.extend(f"fact:{f}" for f in exp.requires)
            if held_out:
                codes.append("holdout:universal" if universal else "holdout:experience")
            chosen.append(
                ChosenExperience(
                    experience_id=exp.id,
                    slot=exp.slot,
                    category=exp.category,
                    intent=cand.intent.name if cand.intent else None,
                    reason_codes=tuple(codes),
                    params=_params(exp, facts, cand.intent),
                    held_out=held_out,
                    hand_off=exp.hand_off,
                )
            )
        primary = next((c.intent for c in chosen if c.intent), None)
        if primary is None and ctx.intents:
            primary = max(ctx.intents, key=lambda i: i.score).name
        return Decision(
            decision_id=decision_id,
            at_ms=ctx.at_ms,
            channel=ctx.channel,
            recognition=rec.state,
            account_id=account,
            session_id=ctx.session_id,
            visitor_id=ctx.visitor_id,
            intent=primary or "none",
            chosen=tuple(chosen),
            rejected=tuple(rejected),
            universal_holdout=universal,
        )

    def _true_facts(self, facts: CustomerFacts, at_ms: int) -> frozenset[str]:
        rules = self.policy.facts
        true = set()
        if facts.outage is not None and facts.outage.start_ms <= at_ms < facts.outage.end_ms:
            true.add("outage_active")
        if (
            facts.customer_since_ms is not None
            and at_ms - facts.customer_since_ms >= rules.loyal_tenure_days * DAY_MS
        ):
            true.add("loyal")
        if (
            facts.contract_end_ms is not None
            and facts.contract_end_ms - at_ms <= rules.upgrade_window_days * DAY_MS
        ):
            true.add("upgrade_eligible")
        if facts.line_kind == "mobile":
            true.add("mobile_line")
        elif facts.line_kind == "fixed":
            true.add("fixed_line")
        return frozenset(true)

    def _forbidden(self, intents: dict[str, ActiveIntent], recognised: bool) -> dict[str, str]:
        forbidden: dict[str, str] = {}
        for guard in self.policy.guards:
            when = guard.when
            if when.intent is not None and when.intent not in intents:
                continue
            if when.recognised is not None and when.recognised != recognised:
                continue
            for cat in guard.forbid_categories:
                forbidden.setdefault(cat, guard.name)
        return forbidden

    def _suppressed(self, facts: CustomerFacts, at_ms: int) -> dict[str, str]:
        suppressed: dict[str, str] = {}
        for rule in self.policy.contact.suppression:
            event_ms = facts.last_churn_ms if rule.after == "churn" else facts.last_upgrade_ms
            if event_ms is not None and event_ms <= at_ms < event_ms + rule.within_s * 1000:
                for cat in rule.categories:
                    suppressed.setdefault(cat, rule.after)
        return suppressed

    def _capped(
        self, category: str, channel: str, history: Sequence[Contact], at_ms: int
    ) -> str | None:
        for cap in self.policy.contact.caps:
            if category not in cap.categories or cap.channel not in ("any", channel):
                continue
            since = at_ms - cap.window_s * 1000
            sessions = {
                c.session_id or f"@{c.at_ms}"
                for c in history
                if since < c.at_ms <= at_ms
                and (cap.channel == "any" or c.channel == cap.channel)
                and any(cat in cap.categories for cat in c.categories)
            }
            n = len(sessions)
            if n >= cap.max_contacts:
                return f"cap:{cap.channel}:{cap.max_contacts}/{cap.window_s}s"
        return None


def _matched_intent(exp: Experience, intents: dict[str, ActiveIntent]) -> ActiveIntent | None:
    best: ActiveIntent | None = None
    names = exp.intents or tuple(intents)
    for name in names:
        it = intents.get(name)
        if it is not None and it.score >= exp.min_score and (best is None or it.score > best.score):
            best = it
    return best


def _in_cooldown(
    exp: Experience, history: Sequence[Contact], at_ms: int, session_id: str | None
) -> bool:
    since = at_ms - exp.cooldown_s * 1000
    return any(
        since < c.at_ms <= at_ms
        and exp.id in c.experience_ids
        and (c.session_id is None or c.session_id != session_id)
        for c in history
    )


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def _params(exp: Experience, facts: CustomerFacts, intent: ActiveIntent | None) -> dict[str, str]:
    if not exp.params:
        return {}
    values = _Blank()
    for key, value in (
        ("tariff", facts.tariff),
        ("device_model", facts.device_model),
        ("line_kind", facts.line_kind),
        ("contract_end_ms", facts.contract_end_ms),
        ("outage_id", facts.outage.outage_id if facts.outage else None),
        ("outage_eta_ms", facts.outage.eta_ms if facts.outage else None),
        ("intent", intent.name if intent else None),
    ):
        if value is not None:
            values[key] = str(value)
    if exp.option_by_tariff:
        option = exp.option_by_tariff.get(facts.tariff or "", exp.option_by_tariff.get("*"))
        if option is not None:
            values["option"] = option
    return {name: template.format_map(values) for name, template in exp.params.items()}
