"""Decide use cases: one in-process decision for a visit, and one decision per session in batch."""

from __future__ import annotations

import bisect
import itertools
import os
from collections import defaultdict
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa

from netcx.config import DecisionSettings, Settings
from netcx.domain.decisions.context import (
    RECOGNISED,
    ActiveIntent,
    Consent,
    Contact,
    CustomerFacts,
    DecisionContext,
    Outage,
    Recognition,
    RecognitionState,
    VisitEvent,
    VisitQuery,
)
from netcx.domain.decisions.engine import Decision, DecisionEngine
from netcx.domain.decisions.holdouts import UNIVERSAL, SrmResult, srm_check
from netcx.domain.decisions.ids import decision_id
from netcx.domain.decisions.policy import Policy, load_policy
from netcx.domain.decisions.triggers import build_trigger, destination_alias
from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.errors import ConfigError
from netcx.ports import (
    CustomerFactsSource,
    DecisionLog,
    RecognitionSource,
    SessionIntentSource,
    TriggerSink,
    World,
)
from netcx.tables import DECISIONS


def load_policy_file(path: Path | None) -> Policy:
    """The policy in `path`, or the shipped default policy when `path` is None."""
    if path is None:
        ref = resources.files("netcx.domain.decisions") / "default_policy.yaml"
        return load_policy(ref.read_text(encoding="utf-8"), "default_policy.yaml")
    if not path.is_file():
        raise ConfigError(f"{path}: no such policy file")
    return load_policy(path.read_text(encoding="utf-8"), str(path))


def history_window_ms(policy: Policy) -> int:
    """How far back contact history matters (the longest cap window or cooldown)."""
    spans = [c.window_s for c in policy.contact.caps] + [e.cooldown_s for e in policy.experiences]
    return max(spans, default=0) * 1000


class DecisionResult(msgspec.Struct, frozen=True):
    """A decision with what it was made from (for the API response)."""

    decision: Decision
    recognition: Recognition
    intents: tuple[ActiveIntent, ...]


class DecisionService:
    """The in-process decide use case: recognise → intents → facts → decide → log → hand off."""

    def __init__(
        self,
        policy: Policy,
        recognition: RecognitionSource,
        intents: SessionIntentSource,
        facts: CustomerFactsSource,
        log: DecisionLog,
        sink: TriggerSink | None,
        pseudonymizer: Pseudonymizer,
        destination: str,
        clock_ms: Callable[[], int],
        srm_alpha: float = 0.001,
    ) -> None:
        self.policy = policy
        self._engine = DecisionEngine(policy)
        self._recognition = recognition
        self._intents = intents
        self._facts = facts
        self.log = log
        self.sink = sink
        self._alias = destination_alias(pseudonymizer, destination)
        self._destination = destination
        self._clock_ms = clock_ms
        self._window_ms = history_window_ms(policy)
        self._nonce = os.urandom(8)
        self._seq = itertools.count()
        self._srm_alpha = srm_alpha

    def decide(
        self,
        *,
        channel: str,
        visitor_id: str | None = None,
        session_id: str | None = None,
        event: VisitEvent | None = None,
        purpose: str = "personalisation",
        client_ip: str | None = None,
        client_port: int | None = None,
    ) -> DecisionResult:
        """Decide now (the service clock) for one visit."""
        return self.decide_query(
            VisitQuery(
                at_ms=self._clock_ms(),
                channel=channel,
                purpose=purpose,
                visitor_id=visitor_id,
                session_id=session_id,
                event=event,
                client_ip=client_ip,
                client_port=client_port,
            )
        )

    def decide_query(self, query: VisitQuery) -> DecisionResult:
        """Decide for `query` at `query.at_ms`; logs it and submits the trigger (never blocks)."""
        rec = self._recognition.recognise(query).for_purpose(query.purpose)
        intents = tuple(self._intents.active_intents(query, rec))
        at = query.at_ms
        account = rec.account_id if rec.recognised else None
        facts = self._facts.facts(rec, at) if account is not None else CustomerFacts()
        history = self.log.contacts(account, at - self._window_ms) if account else []
        ctx = DecisionContext(
            at_ms=at,
            channel=query.channel,
            recognition=rec,
            intents=intents,
            facts=facts,
            session_id=query.session_id,
            visitor_id=query.visitor_id,
            purpose=query.purpose,
        )
        decision = self._engine.decide(ctx, history, decision_id(at, self._nonce, next(self._seq)))
        self.log.append(decision)
        if self.sink is not None:
            trigger = build_trigger(decision, rec, intents, self._alias, self._destination)
            if trigger is not None:
                self.sink.submit(trigger)
        return DecisionResult(decision, rec, intents)

    def close(self) -> None:
        """Hand off what is queued (or dead-letter it) and write the log out."""
        if self.sink is not None:
            self.sink.close()
        self.log.close()

    def srm(self) -> list[SrmResult]:
        """Sample-ratio-mismatch checks: universal control and every experience holdout."""
        return srm_report(self.policy, self.log.exposure_units(), self._srm_alpha)


def srm_report(policy: Policy, units: dict[tuple[str, str], int], alpha: float) -> list[SrmResult]:
    """SRM checks over exposure units (distinct accounts per scope and group)."""
    share = policy.holdouts.universal_share
    results = [
        srm_check(
            UNIVERSAL,
            {g: units.get((UNIVERSAL, g), 0) for g in ("control", "eligible")},
            {"control": share, "eligible": 1.0 - share},
            alpha,
        )
    ]
    for exp in policy.experiences:
        if exp.holdout_share > 0:
            scope = f"experience:{exp.id}"
            results.append(
                srm_check(
                    scope,
                    {g: units.get((scope, g), 0) for g in ("held_out", "treated")},
                    {"held_out": exp.holdout_share, "treated": 1.0 - exp.holdout_share},
                    alpha,
                )
            )
    return results


# ---------------------------------------------------------------- CRM facts from a world


class _Line(msgspec.Struct, frozen=True):
    account: str
    household: str
    kind: str
    tariff: str | None
    device_model: str | None
    area_id: str | None
    contract_start_ms: int | None
    contract_end_ms: int | None


class CustomerFactsIndex:
    """CustomerFactsSource over a world's CRM and outcome tables, keyed by internal pseudonyms."""

    def __init__(self, world: World, pseudonymizer: Pseudonymizer) -> None:
        lines = world.table("crm/lines").to_pylist()
        accounts = world.table("crm/accounts").to_pylist()
        pz = pseudonymizer
        self._lines: dict[str, _Line] = {}
        self._by_household: dict[str, list[_Line]] = defaultdict(list)
        self._by_account: dict[str, list[_Line]] = defaultdict(list)
        for row in lines:
            line = _Line(
                account=pz.pseudonym(IdKind.ACCOUNT, row["account_id"]),
                household=pz.pseudonym(IdKind.HOUSEHOLD, row["household_id"]),
                kind=row["kind"],
                tariff=row["tariff"],
                device_model=row["device_model"],
                area_id=row["area_id"],
                contract_start_ms=row["contract_start_ms"],
                contract_end_ms=row["contract_end_ms"],
            )
            self._lines[pz.pseudonym(IdKind.LINE, row["line_id"])] = line
            # A household-level recognition is about the fixed access line first.
            households = self._by_household[line.household]
            if line.kind == "fixed":
                households.insert(0, line)
            else:
                households.append(line)
            self._by_account[line.account].append(line)
        self._accounts = {
            pz.pseudonym(IdKind.ACCOUNT, a["account_id"]): (a["created_ms"], a["segment"])
            for a in accounts
        }
        self._outages: dict[str, list[Outage]] = defaultdict(list)
        for o in world.table("outcomes/outages").to_pylist():
            self._outages[o["area_id"]].append(Outage(**o))
        for area in self._outages.values():
            area.sort(key=lambda o: o.start_ms)
        self._events = {
            name: _times_by_account(world.table(f"outcomes/{name}"), column, pz)
            for name, column in (("churn", "churn_ms"), ("upgrades", "upgrade_ms"))
        }

    def facts(self, recognition: Recognition, at_ms: int) -> CustomerFacts:
        line = self._line_for(recognition)
        account = recognition.account_id or (line.account if line else None)
        if account is None:
            return CustomerFacts()
        created, segment = self._accounts.get(account, (None, None))
        return CustomerFacts(
            tariff=line.tariff if line else None,
            device_model=line.device_model if line else None,
            line_kind=line.kind if line else None,
            segment=segment,
            area_id=line.area_id if line else None,
            customer_since_ms=created,
            contract_end_ms=line.contract_end_ms if line else None,
            outage=self._outage(line.area_id if line else None, at_ms),
            last_churn_ms=_last_before(self._events["churn"].get(account), at_ms),
            last_upgrade_ms=_last_before(self._events["upgrades"].get(account), at_ms),
        )

    def _line_for(self, rec: Recognition) -> _Line | None:
        if rec.line_id and rec.line_id in self._lines:
            return self._lines[rec.line_id]
        for key, index in (
            (rec.household_id, self._by_household),
            (rec.account_id, self._by_account),
        ):
            if key and index.get(key):
                return index[key][0]
        return None

    def _outage(self, area_id: str | None, at_ms: int) -> Outage | None:
        for outage in self._outages.get(area_id or "", ()):
            if outage.start_ms <= at_ms < outage.end_ms:
                return outage
        return None


def _times_by_account(table: pa.Table, column: str, pz: Pseudonymizer) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for account, ms in zip(
        table.column("account_id").to_pylist(), table.column(column).to_pylist(), strict=True
    ):
        if account is not None and ms is not None:
            out[pz.pseudonym(IdKind.ACCOUNT, account)].append(ms)
    for times in out.values():
        times.sort()
    return out


def _last_before(times: list[int] | None, at_ms: int) -> int | None:
    if not times:
        return None
    i = bisect.bisect_right(times, at_ms)
    return times[i - 1] if i else None


# ---------------------------------------------------------------- batch: one decision per session


def decide_sessions(
    identity: pa.Table,
    intents: pa.Table,
    world: World,
    settings: Settings,
    pseudonymizer: Pseudonymizer,
) -> pa.Table:
    """DECISIONS: one row per recognised, consenting session with an emerged intent.

    The decision is taken when the session's last intent emerged (or when it was recognised,
    if later), with every intent emerged by then; contact caps and cooldowns run over the
    sessions in time order, holdouts by the account's sticky hash.
    """
    return _decide_sessions(
        identity, intents, CustomerFactsIndex(world, pseudonymizer), settings.decisions
    )


def _decide_sessions(
    identity: pa.Table,
    intents: pa.Table,
    facts: CustomerFactsSource,
    settings: DecisionSettings,
) -> pa.Table:
    policy = load_policy_file(settings.policy_file)
    engine = DecisionEngine(policy)
    window_ms = history_window_ms(policy)

    emerged: dict[str, list[ActiveIntent]] = defaultdict(list)
    for row in intents.select(["session_id", "intent", "score", "emerged_ms"]).to_pylist():
        if row["intent"] not in (None, "none") and row["emerged_ms"] is not None:
            emerged[row["session_id"]].append(
                ActiveIntent(row["intent"], float(row["score"] or 0.0), (), row["emerged_ms"])
            )

    todo: list[tuple[int, dict[str, Any], tuple[ActiveIntent, ...]]] = []
    for row in identity.to_pylist():
        found = emerged.get(row["session_id"])
        if (
            not found
            or row["recognition"] not in RECOGNISED
            or not row["consent_personalisation"]
            or row["account_id"] is None
        ):
            continue
        at = max(max(i.emerged_ms or 0 for i in found), row["recognised_ms"] or row["start_ms"])
        todo.append((at, row, tuple(found)))
    todo.sort(key=lambda t: (t[0], t[1]["session_id"]))

    history: dict[str, list[Contact]] = defaultdict(list)
    out: dict[str, list[Any]] = {name: [] for name in DECISIONS.names}
    for at, row, active in todo:
        rec = Recognition(
            state=RecognitionState(row["recognition"]),
            confidence=float(row["confidence"] or 0.0),
            consent=Consent(personalisation=True),
            line_id=row["line_id"],
            subscriber_id=row["subscriber_id"],
            household_id=row["household_id"],
            account_id=row["account_id"],
        )
        account = row["account_id"]
        past = [c for c in history[account] if c.at_ms >= at - window_ms]
        ctx = DecisionContext(
            at_ms=at,
            channel=row["channel"] or "web",
            recognition=rec,
            intents=active,
            facts=facts.facts(rec, at),
            session_id=row["session_id"],
            visitor_id=row["visitor_id"],
        )
        decision = engine.decide(ctx, past, decision_id(at, row["session_id"].encode(), 0))
        contact = decision.contact()
        if contact is not None:
            history[account].append(contact)
        primary = decision.chosen[0] if decision.chosen else None
        out["decision_id"].append(decision.decision_id)
        out["ts_ms"].append(at)
        out["session_id"].append(row["session_id"])
        out["visitor_id"].append(row["visitor_id"])
        out["account_id"].append(account)
        out["recognition"].append(rec.state.value)
        out["intent"].append(decision.intent)
        out["experience"].append(primary.experience_id if primary else "none")
        out["reason"].append(
            ";".join(primary.reason_codes)
            if primary
            else ";".join(f"{r.experience_id}={r.reason}" for r in decision.rejected)
            or "no_eligible_experience"
        )
        out["holdout"].append(bool(primary and primary.held_out))
        out["shown"].append(bool(primary and not primary.held_out))
    return pa.table(out, schema=DECISIONS)


def summarise_decisions(decisions: pa.Table, settings: DecisionSettings) -> dict[str, float]:
    """Flat numbers for the run report: decisions shown vs held out, per experience, and the
    SRM check of the universal control group over distinct accounts (DECISIONS columns)."""
    policy = load_policy_file(settings.policy_file)
    rows = decisions.select(["account_id", "experience", "reason", "holdout", "shown"]).to_pylist()
    out: dict[str, float] = {
        "decisions.total": len(rows),
        "decisions.shown": sum(r["shown"] for r in rows),
        "decisions.holdout": sum(r["holdout"] for r in rows),
        "decisions.nothing_chosen": sum(r["experience"] == "none" for r in rows),
    }
    for r in rows:
        if r["experience"] != "none":
            arm = "holdout" if r["holdout"] else "shown"
            key = f"decisions.by_experience.{r['experience']}.{arm}"
            out[key] = out.get(key, 0) + 1
    control = {r["account_id"] for r in rows if "holdout:universal" in (r["reason"] or "")}
    exposed = {r["account_id"] for r in rows if r["experience"] != "none"}
    share = policy.holdouts.universal_share
    srm = srm_check(
        UNIVERSAL,
        {"control": len(control), "eligible": len(exposed - control)},
        {"control": share, "eligible": 1.0 - share},
        settings.srm_alpha,
    )
    out["decisions.universal_control_accounts"] = len(control)
    out["decisions.exposed_accounts"] = len(exposed)
    out["decisions.srm_p_value"] = srm.p_value
    out["decisions.srm_mismatch"] = float(srm.mismatch)
    return out
