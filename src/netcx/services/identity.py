"""Identity use cases: consent-gated recognition, profile context, consent, export, erasure.

Raw client addresses reach this module only to be handed to the resolver; they are never
stored, logged or returned. Everything kept (edges, consent, audit) is keyed by pseudonyms.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from netcx.domain.consent import (
    ConsentDecision,
    Purpose,
    is_granted,
    latest_decisions,
    parse_purpose,
    resolution_allowed,
)
from netcx.domain.identity import (
    Edge,
    EdgeSource,
    IntentNote,
    NodeKind,
    Recognition,
    RecognitionState,
    crm_edges,
    crm_ids,
    edges_from_resolution,
    linked_visitors,
    login_edge,
    node_kind,
    observe,
    recognition_of,
    retract,
    strongest_link,
)
from netcx.domain.privacy import (
    DAY_MS,
    AuditAction,
    AuditRecord,
    DataKind,
    RetentionPolicy,
    subject_pseudonyms,
)
from netcx.domain.pseudonyms import IdKind, Pseudonymizer
from netcx.domain.resolution import Level, Resolution
from netcx.errors import InvalidInput, NotFound
from netcx.ports import (
    AuditLog,
    ConsentLedger,
    EventLog,
    IdentityStore,
    RecentIntents,
    Resolver,
    SubjectData,
)
from netcx.tables import HITS, LINES, RESOLVED_HITS, SESSION_IDENTITY, require_columns

log = logging.getLogger("netcx.identity")
_PURPOSE_TEXT = {p: p.value for p in Purpose}  # (enum .value is a Python-level call)

RECEIPTS = "erasure-receipts"
"""Pseudonym destination of erasure receipts: provable later, not joinable with stored ids."""

_CRM_HOPS = 3
_INTENT_WINDOW_MS = 30 * DAY_MS


class ProfileContext(msgspec.Struct, frozen=True):
    """What every channel (web, app, call centre) sees about one profile."""

    profile_id: str
    kind: str
    purpose: str
    recognition: Recognition
    evidence: list[dict[str, Any]]
    visitors: list[str]
    consent: dict[str, dict[str, Any] | None]
    recent_intents: list[IntentNote]


def _decision_view(d: ConsentDecision | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {
        "granted": d.granted,
        "at_ms": d.at_ms,
        "source": d.source,
        "text_version": d.text_version,
    }


def _edge_view(e: Edge) -> dict[str, Any]:
    view: dict[str, Any] = msgspec.to_builtins(e)
    if e.expires_ms is not None:
        view["expires_ms"] = e.expires_ms
    return view


def _require_text(value: str, name: str) -> str:
    if not value.strip():
        raise InvalidInput("must not be empty", field=name)
    return value


@dataclass(frozen=True)
class ConsentGate:
    """Releases a resolution only under consent for the caller's purpose.

    `gate` is the hook of `GET /v1/resolve` (the network area's `ResolveConsentGate`): no
    visitor is known there, so the subject is the resolved line (or subscriber), which
    must have granted the purpose. `permit` with a visitor's history is what recognition
    uses. An explicit revocation by the line or subscriber vetoes either way.
    """

    consent: ConsentLedger

    def gate(self, resolution: Resolution, purpose: str, at_ms: int) -> Resolution:
        return self.permit(resolution, parse_purpose(purpose), None)

    def permit(
        self,
        resolution: Resolution,
        purpose: Purpose,
        visitor_history: Sequence[ConsentDecision] | None,
        history: Callable[[str], list[ConsentDecision]] | None = None,
    ) -> Resolution:
        if resolution.level is Level.UNKNOWN:
            return resolution
        read = history or self.consent.history
        holders = [read(h) for h in (resolution.line_id, resolution.subscriber_id) if h]
        if not resolution_allowed(purpose, visitor_history, holders):
            return Resolution.unknown("no_consent")
        return resolution


class RecogniseRequest(msgspec.Struct, frozen=True):
    """One event to recognise (see `IdentityService.recognise`)."""

    visitor_id: str
    ip: str
    port: int | None
    at_ms: int
    purpose: str
    user_id: str | None = None


class _Reads:
    """Memoised `edges_of` for one use case, with the edges it is writing overlaid, so a
    recognition (or a batch) reads each node once — a round trip each on Redis."""

    def __init__(self, store: IdentityStore) -> None:
        self._store = store
        self._cache: dict[str, dict[str, Edge]] = {}
        self._pending: dict[str, Edge] = {}

    def edges_of(self, node: str) -> list[Edge]:
        held = self._cache.get(node)
        if held is None:
            held = self._cache[node] = {e.key: e for e in self._store.edges_of(node)}
        return list(held.values())

    def prefetch(self, nodes: Sequence[str]) -> None:
        missing = [n for n in nodes if n not in self._cache]
        for node, edges in self._store.edges_of_many(missing).items():
            self._cache[node] = {e.key: e for e in edges}

    def put(self, edges: Sequence[Edge]) -> None:
        """Buffer writes (visible to later reads of this use case) until `flush`."""
        for e in edges:
            self._pending[e.key] = e
            for node in (e.src, e.dst):
                if node in self._cache:
                    self._cache[node][e.key] = e

    def flush(self) -> None:
        if self._pending:
            self._store.put_edges(list(self._pending.values()))
            self._pending.clear()


@dataclass
class IdentityService:
    """Recognises visitors under consent and keeps the identity graph, ledger and audit log."""

    store: IdentityStore
    consent: ConsentLedger
    audit: AuditLog
    resolver: Resolver
    pseudonymizer: Pseudonymizer
    clock_ms: Callable[[], int]
    intents: RecentIntents
    network_edge_ttl_s: int = 1800
    retention: RetentionPolicy = field(default_factory=RetentionPolicy.from_days)
    other_stores: Sequence[SubjectData] = ()
    event_log: EventLog | None = None  # the collector's log, for its retention purge

    # ------------------------------------------------------------ pseudonyms

    def _visitor(self, visitor_id: str) -> str:
        if not visitor_id:
            raise InvalidInput("must not be empty", field="visitor_id")
        return self.pseudonymizer.pseudonym(IdKind.VISITOR, visitor_id)

    def _subjects(self, ref: str) -> list[str]:
        """Pseudonyms a subject reference may be stored under (current key first)."""
        return subject_pseudonyms(ref, self.pseudonymizer.every_version)

    def _evidence_ids(self, resolution: Resolution) -> list[str]:
        return [
            self.pseudonymizer.pseudonym(IdKind.EVIDENCE, f"{e.kind}:{e.source}:{e.ref}")
            for e in resolution.evidence
        ]

    # ------------------------------------------------------------ recognition

    def recognise(
        self,
        visitor_id: str,
        ip: str,
        port: int | None,
        at_ms: int,
        purpose: str,
        user_id: str | None = None,
        caller: str = "collector",
    ) -> Recognition:
        """Who is this visitor, for `purpose`? Resolves the client address only when the
        visitor consented for that purpose and is not logged in; records what it learnt as
        edges; audits the act. `ip` is used for the resolver call and nothing else."""
        request = RecogniseRequest(visitor_id, ip, port, at_ms, purpose, user_id)
        return self.recognise_many([request], caller)[0]

    def recognise_many(
        self,
        requests: Sequence[RecogniseRequest],
        caller: str = "collector",
        *,
        histories: Mapping[str, list[ConsentDecision]] | None = None,
        audits: list[AuditRecord] | None = None,
    ) -> list[Recognition]:
        """`recognise` for a batch of events, in order: graph nodes and consent histories
        are read in a few round trips per batch (visitors, then the resolved lines), and
        edges and audit records are written in one go each.

        `histories`: consent histories the caller has just read (by subject pseudonym), not
        read again. `audits`: the audit records are added to this list, for the caller to
        write (`append_audit`) before anyone uses the answers, instead of written here."""
        reads = _Reads(self.store)
        histories = dict(histories or {})

        def history(subject: str) -> list[ConsentDecision]:
            held = histories.get(subject)
            if held is None:
                held = histories[subject] = self.consent.history(subject)
            return held

        visitors = [self._visitor(r.visitor_id) for r in requests]
        reads.prefetch(list(dict.fromkeys(visitors)))
        unread = [v for v in dict.fromkeys(visitors) if v not in histories]
        if unread:
            histories.update(self.consent.histories(unread))
        resolved = self._resolve_ahead(requests, visitors, reads, history)
        holders = {h for r in resolved.values() for h in (r.line_id, r.subscriber_id) if h}
        histories.update(self.consent.histories(sorted(holders - set(histories))))

        out: list[Recognition] = []
        records: list[AuditRecord] = []
        for i, request in enumerate(requests):
            recognition, record = self._recognise_one(
                reads, history, request, visitors[i], caller, resolved.get(i)
            )
            out.append(recognition)
            records.append(record)
        reads.flush()
        if audits is None:
            self.audit.append(records)
        else:
            audits.extend(records)
        for record in records:
            log.debug(
                "event=resolve caller=%s subject=%s purpose=%s outcome=%s reason=%s",
                record.caller,
                record.subject,
                record.purpose,
                record.outcome,
                record.reason,
            )
        log.info("event=recognise caller=%s count=%d", caller, len(out))
        return out

    def _resolve_ahead(
        self,
        requests: Sequence[RecogniseRequest],
        visitors: Sequence[str],
        reads: _Reads,
        history: Callable[[str], list[ConsentDecision]],
    ) -> dict[int, Resolution]:
        """Resolve, before the graph is updated, the addresses of the requests that will
        need it (consented, not logged in — counting logins earlier in the batch), so the
        consent of every resolved line can be read in one round trip."""
        logged_in: set[str] = set()
        out: dict[int, Resolution] = {}
        for i, (request, visitor) in enumerate(zip(requests, visitors, strict=True)):
            if request.user_id:
                logged_in.add(visitor)
                continue
            if visitor in logged_in or any(
                e.source is EdgeSource.LOGIN and e.active_at(request.at_ms)
                for e in reads.edges_of(visitor)
            ):
                continue
            if is_granted(history(visitor), parse_purpose(request.purpose)):
                out[i] = self.resolver.resolve(request.ip, request.port, request.at_ms)
        return out

    def _recognise_one(
        self,
        reads: _Reads,
        history: Callable[[str], list[ConsentDecision]],
        request: RecogniseRequest,
        visitor: str,
        caller: str,
        resolved: Resolution | None,
    ) -> tuple[Recognition, AuditRecord]:
        """`visitor`: the pseudonym of `request.visitor_id`."""
        why = parse_purpose(request.purpose)
        at_ms = request.at_ms
        existing = {e.key: e for e in reads.edges_of(visitor)}
        seen: list[Edge] = []
        if request.user_id:
            subscriber = self.pseudonymizer.pseudonym(IdKind.SUBSCRIBER, request.user_id)
            seen.append(login_edge(visitor, subscriber, at_ms))
        visitor_history = history(visitor)
        consented = is_granted(visitor_history, why)
        logged_in = bool(seen) or any(
            e.source is EdgeSource.LOGIN and e.active_at(at_ms) for e in existing.values()
        )
        reason = "no_consent" if not consented else "authenticated"
        evidence: list[str] = []
        if consented and not logged_in:
            if resolved is None:  # not foreseen by _resolve_ahead: resolve now
                resolved = self.resolver.resolve(request.ip, request.port, at_ms)
            resolution = ConsentGate(self.consent).permit(resolved, why, visitor_history, history)
            reason = resolution.reason
            evidence = self._evidence_ids(resolution)
            seen.extend(
                edges_from_resolution(visitor, resolution, at_ms, self.network_edge_ttl_s, evidence)
            )
        self._fold(reads, seen, existing)
        fresh_crm = [e for e in seen if e.source is EdgeSource.CRM]
        recognition = self._recognition(reads, visitor, why, consented, at_ms, fresh_crm)
        record = self._resolution_record(caller, visitor, why, recognition.state, reason, evidence)
        return recognition, record

    def _resolve_gated(
        self,
        ip: str,
        port: int | None,
        at_ms: int,
        purpose: Purpose,
        visitor_history: Sequence[ConsentDecision] | None,
    ) -> Resolution:
        resolution = self.resolver.resolve(ip, port, at_ms)
        return ConsentGate(self.consent).permit(resolution, purpose, visitor_history)

    def resolve_for_purpose(
        self,
        ip: str,
        port: int | None,
        at_ms: int,
        purpose: str,
        caller: str,
        visitor_id: str | None = None,
    ) -> Resolution:
        """The consent gate for `/v1/resolve`: a resolution for `purpose` or, without that
        purpose's consent, `Resolution.unknown("no_consent")`. With a visitor, the visitor's
        grant is needed before the resolver runs; without one, the resolved line's (or
        subscriber's) grant is needed before the answer is released. Audited either way."""
        why = parse_purpose(purpose)
        visitor = None if visitor_id is None else self._visitor(visitor_id)
        if visitor is not None and not is_granted(self.consent.history(visitor), why):
            resolution = Resolution.unknown("no_consent")
        else:
            history = None if visitor is None else self.consent.history(visitor)
            resolution = self._resolve_gated(ip, port, at_ms, why, history)
        subject = visitor or resolution.line_id or resolution.household_id or ""
        record = self._resolution_record(
            caller,
            subject,
            why,
            resolution.level.value,
            resolution.reason,
            self._evidence_ids(resolution),
        )
        self.audit.append([record])
        log.info(
            "event=resolve caller=%s subject=%s purpose=%s outcome=%s reason=%s",
            caller,
            subject,
            why.value,
            record.outcome,
            record.reason,
        )
        return resolution

    @staticmethod
    def _fold(reads: _Reads, seen: Sequence[Edge], existing: dict[str, Edge]) -> None:
        """Store the visitor's observations folded into its stored edges. CRM edges are
        facts each resolution restates: they are written as seen (no read per node)."""
        merged: dict[str, Edge] = {}
        for e in seen:
            merged[e.key] = observe(merged.get(e.key) or existing.get(e.key), e)
        if merged:
            reads.put(list(merged.values()))

    @staticmethod
    def _crm_edges_from(reads: _Reads, anchor: str) -> list[Edge]:
        """CRM edges reachable outward (line → subscriber → household → account); an
        account is the top, so its (many) edges are not read."""
        out: list[Edge] = []
        frontier, visited = [anchor], {anchor}
        for _ in range(_CRM_HOPS):
            nxt: list[str] = []
            for node in frontier:
                if node_kind(node) is NodeKind.ACCOUNT:
                    continue
                for e in reads.edges_of(node):
                    if e.source is EdgeSource.CRM and e.src == node:
                        out.append(e)
                        if e.dst not in visited:
                            visited.add(e.dst)
                            nxt.append(e.dst)
            frontier = nxt
        return out

    def _recognition(
        self,
        reads: _Reads,
        visitor: str,
        purpose: Purpose,
        consented: bool,
        at_ms: int,
        fresh_crm: Sequence[Edge] = (),
    ) -> Recognition:
        """Recognition from the stored edges; `fresh_crm` (the CRM edges a resolution just
        reported) spares the graph walk when the deciding link is that resolution's."""
        link = strongest_link(reads.edges_of(visitor), at_ms, use_network=consented)
        if link is None:
            crm: Sequence[Edge] = []
        elif any(e.src == link.dst for e in fresh_crm):
            crm = fresh_crm
        else:
            crm = self._crm_edges_from(reads, link.dst)
        return recognition_of(visitor, purpose, consented, link, crm, at_ms)

    def _resolution_record(
        self,
        caller: str,
        subject: str,
        purpose: Purpose,
        outcome: str,
        reason: str,
        evidence: Sequence[str],
    ) -> AuditRecord:
        return AuditRecord(
            at_ms=self.clock_ms(),
            action=AuditAction.RESOLVE,
            caller=caller,
            subject=subject,
            purpose=_PURPOSE_TEXT[purpose],
            outcome=outcome,
            reason=reason,
            evidence=tuple(evidence),
        )

    # ------------------------------------------------------------ profile context

    def context(
        self, profile_ref: str, purpose: str = "personalisation", caller: str = "api"
    ) -> ProfileContext:
        """The profile view shared by web, app and call-centre callers.

        A visitor id gives the visitor's recognition for `purpose`. A CRM id (line,
        subscriber, household, account) is a profile the caller has identified: it shows
        the visitors linked to it — by login, or by live network evidence from visitors who
        consented for `purpose` and are not logged in as someone else.
        """
        why = parse_purpose(purpose)
        node = self._subjects(profile_ref)[0]
        kind = node_kind(node)
        if kind is None:
            raise InvalidInput(f"{profile_ref[:64]!r} is not a profile id", field="id")
        now = self.clock_ms()
        reads = _Reads(self.store)
        if kind in (NodeKind.VISITOR, NodeKind.DEVICE):
            consented = is_granted(self.consent.history(node), why)
            recognition = self._recognition(reads, node, why, consented, now)
            link = strongest_link(reads.edges_of(node), now, use_network=consented)
            links = {} if link is None else {node: link}
            visitors = [node]
        else:
            members = self._profile_members(reads, node)
            if len(members) == 1 and not reads.edges_of(node):
                raise NotFound(f"no profile {profile_ref[:64]!r}")
            links = self._linked_visitors(reads, members, why, now)
            visitors = sorted(links)
            ids = crm_ids(node, self._crm_edges_from(reads, node), now)
            recognition = Recognition(
                visitor_id="",
                state=RecognitionState.AUTHENTICATED,
                purpose=why,
                confidence=1.0,
                reason="identified_by_caller",
                consented=is_granted(self.consent.history(node), why),
                line_id=ids.get(NodeKind.LINE),
                subscriber_id=ids.get(NodeKind.SUBSCRIBER),
                household_id=ids.get(NodeKind.HOUSEHOLD),
                account_id=ids.get(NodeKind.ACCOUNT),
            )
        decisions = latest_decisions(self.consent.history(node))
        self.audit.append(
            [
                AuditRecord(
                    now,
                    AuditAction.CONTEXT,
                    caller,
                    subject=node,
                    purpose=why.value,
                    outcome=recognition.state.value,
                    reason=f"visitors={len(visitors)}",
                )
            ]
        )
        return ProfileContext(
            profile_id=node,
            kind=kind.value,
            purpose=why.value,
            recognition=recognition,
            evidence=[_edge_view(e) for e in links.values()],
            visitors=visitors,
            consent={p.value: _decision_view(decisions.get(p)) for p in Purpose},
            recent_intents=self.intents.recent_intents(
                [node, *visitors], now - _INTENT_WINDOW_MS, 20
            ),
        )

    @staticmethod
    def _profile_members(reads: _Reads, root: str) -> set[str]:
        """`root` and every CRM node below it (account ⊃ household ⊃ subscriber ⊃ line)."""
        members, frontier = {root}, [root]
        for _ in range(_CRM_HOPS):
            nxt = []
            for node in frontier:
                for e in reads.edges_of(node):
                    if e.source is EdgeSource.CRM and e.dst == node and e.src not in members:
                        members.add(e.src)
                        nxt.append(e.src)
            frontier = nxt
        return members

    def _linked_visitors(
        self, reads: _Reads, members: set[str], purpose: Purpose, now: int
    ) -> dict[str, Edge]:
        candidates: dict[str, list[Edge]] = {}
        for node in members:
            for e in reads.edges_of(node):
                if e.source is not EdgeSource.CRM and e.dst == node:
                    candidates.setdefault(e.src, [])
        for visitor in candidates:
            edges = reads.edges_of(visitor)
            if not is_granted(self.consent.history(visitor), purpose):
                edges = [e for e in edges if e.source is EdgeSource.LOGIN]
            candidates[visitor] = edges
        return linked_visitors(members, candidates, now)

    def unmerge(self, visitor_ref: str, node_ref: str, caller: str) -> int:
        """Undo a wrong link between a visitor and a node: its edges become tombstones;
        the visitor's events and other links are untouched. Returns edges retracted."""
        visitor = self._subjects(visitor_ref)[0]
        targets = set(self._subjects(node_ref))
        now = self.clock_ms()
        undone = [
            retract(e, now, caller)
            for e in self.store.edges_of(visitor)
            if e.other(visitor) in targets and e.retracted_ms is None
        ]
        if not undone:
            raise NotFound(f"no link between {visitor_ref[:64]!r} and {node_ref[:64]!r}")
        self.store.put_edges(undone)
        self.audit.append(
            [
                AuditRecord(
                    now,
                    AuditAction.UNMERGE,
                    caller,
                    subject=visitor,
                    outcome=f"retracted={len(undone)}",
                    reason=",".join(sorted(targets)),
                )
            ]
        )
        return len(undone)

    # ------------------------------------------------------------ consent

    def set_consent(
        self,
        subject_ref: str,
        purpose: str,
        granted: bool,
        source: str,
        text_version: str,
        caller: str,
        at_ms: int | None = None,
    ) -> ConsentDecision:
        """Record a grant or revocation; in force for every later check, on every instance
        that shares the ledger."""
        decision = ConsentDecision(
            subject=self._subjects(subject_ref)[0],
            purpose=parse_purpose(purpose),
            granted=granted,
            at_ms=self.clock_ms() if at_ms is None else at_ms,
            source=_require_text(source, "source"),
            text_version=_require_text(text_version, "text_version"),
        )
        self.consent.append(decision)
        self.audit.append(
            [
                AuditRecord(
                    self.clock_ms(),
                    AuditAction.CONSENT,
                    caller,
                    subject=decision.subject,
                    purpose=decision.purpose.value,
                    outcome="granted" if granted else "revoked",
                    reason=f"source={decision.source} text={decision.text_version}",
                )
            ]
        )
        return decision

    def record_reported_consent(
        self,
        visitor_id: str,
        reported: Mapping[str, bool | None],
        source: str,
        text_version: str,
        at_ms: int,
    ) -> list[ConsentDecision]:
        """Consent a page or app reported with an event (the tag, a CMP via Segment):
        record a decision only where it differs from the one in force, so a visitor's
        every event does not grow the ledger. `reported` maps purpose → granted (None:
        not stated). Returns the decisions recorded."""
        visitor = self._visitor(visitor_id)
        history = list(self.consent.history(visitor))  # ours to extend
        return self._record_reported(visitor, history, reported, source, text_version, at_ms)

    def _record_reported(
        self,
        visitor: str,
        history: list[ConsentDecision],
        reported: Mapping[str, bool | None],
        source: str,
        text_version: str,
        at_ms: int,
    ) -> list[ConsentDecision]:
        """Record what `reported` changes against `history` (extended in place); the
        decisions recorded."""
        in_force = latest_decisions(history)
        recorded = []
        for name, granted in reported.items():
            if granted is None:
                continue
            purpose = parse_purpose(name)
            held = in_force.get(purpose)
            if held is not None and (held.granted == granted or held.at_ms > at_ms):
                continue
            decision = self.set_consent(
                visitor, purpose, granted, source, text_version, source, at_ms
            )
            history.append(decision)
            in_force[purpose] = decision
            recorded.append(decision)
        return recorded

    def record_reported_consents(
        self, reports: Sequence[tuple[str, Mapping[str, bool | None], str, str, int]]
    ) -> dict[str, list[ConsentDecision]]:
        """`record_reported_consent` for several visitors' (visitor_id, reported, source,
        text_version, at_ms), with one ledger read for all of them. Returns each visitor's
        history (by pseudonym) including what was recorded, for `recognise_many`: a visit's
        consent is read once."""
        visitors = [self._visitor(r[0]) for r in reports]
        histories = self.consent.histories(list(dict.fromkeys(visitors)))
        for visitor, (_, reported, source, text_version, at_ms) in zip(
            visitors, reports, strict=True
        ):
            history = histories[visitor] = list(histories.get(visitor, ()))  # ours to extend
            self._record_reported(visitor, history, reported, source, text_version, at_ms)
        return histories

    def append_audit(self, records: Sequence[AuditRecord]) -> None:
        """Write audit records a `recognise_many(audits=...)` caller collected."""
        if records:
            self.audit.append(records)

    def consent_view(self, subject_ref: str) -> dict[str, Any]:
        """The decision in force per purpose and the full history of a subject."""
        subjects = self._subjects(subject_ref)
        history = [d for s in subjects for d in self.consent.history(s)]
        decisions = latest_decisions(history)
        return {
            "subject": subjects[0],
            "purposes": {p.value: _decision_view(decisions.get(p)) for p in Purpose},
            "history": msgspec.to_builtins(history),
        }

    def load_crm(self, lines: pa.Table) -> int:
        """Write the CRM links of every line (LINES columns, raw CRM ids, pseudonymised
        here), so logged-in visitors reach their household and account and a call-centre
        lookup by account finds them. Returns the number of edges written."""
        lines = require_columns(lines, LINES, "crm/lines")
        now = self.clock_ms()
        p = self.pseudonymizer

        def ids(column: str, kind: IdKind) -> list[str | None]:
            raw = lines.column(column).to_pylist()
            return [None if r is None else p.pseudonym(kind, r) for r in raw]

        columns = zip(
            ids("line_id", IdKind.LINE),
            ids("subscriber_id", IdKind.SUBSCRIBER),
            ids("household_id", IdKind.HOUSEHOLD),
            ids("account_id", IdKind.ACCOUNT),
            strict=True,
        )
        edges = {e.key: e for row in columns for e in crm_edges(*row, now)}
        batch = list(edges.values())
        for start in range(0, len(batch), 5_000):
            self.store.put_edges(batch[start : start + 5_000])
        log.info("event=load_crm lines=%d edges=%d", lines.num_rows, len(batch))
        return len(batch)

    # ------------------------------------------------------------ data-subject rights

    def _with_logged_in_visitors(self, subjects: list[str]) -> list[str]:
        """A subscriber's own visitors (cookies and app installs it logged in with) are
        part of that person's data; network-linked visitors are not (they may be anyone
        in the household), so they are left out."""
        out = list(subjects)
        for s in subjects:
            if node_kind(s) is NodeKind.SUBSCRIBER:
                for e in self.store.edges_of(s):
                    if e.source is EdgeSource.LOGIN and e.dst == s and e.src not in out:
                        out.append(e.src)
        return out

    def export(self, subject_ref: str, caller: str) -> dict[str, Any]:
        """Everything held about a subject (GDPR Art. 15/20), machine-readable; for a
        subscriber, including the visitors it logged in with."""
        subjects = self._with_logged_in_visitors(self._subjects(subject_ref))
        edges = {e.key: e for s in subjects for e in self.store.edges_of(s)}
        now = self.clock_ms()
        data: dict[str, Any] = {
            "subject": subjects[0],
            "pseudonyms": subjects,
            "exported_ms": now,
            "identity_edges": [_edge_view(e) for e in edges.values()],
            "consent": [msgspec.to_builtins(d) for s in subjects for d in self.consent.history(s)],
            "audit": [
                msgspec.to_builtins(r)
                for s in subjects
                for r in self.audit.read(subject=s, limit=1_000_000)
            ],
            "intents": msgspec.to_builtins(self.intents.recent_intents(subjects, 0, 1_000_000)),
        }
        for other in self.other_stores:
            data[other.name] = other.export_subject(subjects)
        self.audit.append([AuditRecord(now, AuditAction.EXPORT, caller, subject=subjects[0])])
        log.info("event=export caller=%s subject=%s", caller, subjects[0])
        return data

    def erase(self, subject_ref: str, caller: str) -> dict[str, Any]:
        """Erase a subject from every store (GDPR Art. 17); for a subscriber, with the
        visitors it logged in with. The audit keeps only a receipt (a pseudonym under a
        separate key), so the erasure is provable but not joinable."""
        subjects = self._with_logged_in_visitors(self._subjects(subject_ref))
        counts = {"identity_edges": 0, "consent": 0, "audit": 0}
        for s in subjects:
            counts["identity_edges"] += self.store.erase_node(s)
            counts["consent"] += self.consent.erase_subject(s)
            counts["audit"] += self.audit.erase_subject(s)
        for other in self.other_stores:
            counts[other.name] = other.erase_subject(subjects)
        receipt = self.pseudonymizer.pseudonym(IdKind.EVIDENCE, subjects[0], RECEIPTS)
        outcome = " ".join(f"{k}={v}" for k, v in counts.items())
        self.audit.append(
            [
                AuditRecord(
                    self.clock_ms(), AuditAction.ERASE, caller, outcome=outcome, reason=receipt
                )
            ]
        )
        log.info("event=erase caller=%s receipt=%s %s", caller, receipt, outcome)
        return {"receipt": receipt, "erased": counts}

    def purge_retention(self, caller: str) -> dict[str, int]:
        """Delete what is past its retention period, per data kind."""
        now = self.clock_ms()
        cut = self.retention.cutoff_ms
        counts = {
            DataKind.NETWORK_EDGES.value: self.store.purge(
                EdgeSource.NETWORK, cut(DataKind.NETWORK_EDGES, now)
            ),
            DataKind.LOGIN_EDGES.value: self.store.purge(
                EdgeSource.LOGIN, cut(DataKind.LOGIN_EDGES, now)
            ),
            DataKind.CRM_EDGES.value: self.store.purge(
                EdgeSource.CRM, cut(DataKind.CRM_EDGES, now)
            ),
            DataKind.CONSENT.value: self.consent.purge(cut(DataKind.CONSENT, now)),
            DataKind.AUDIT.value: self.audit.purge(cut(DataKind.AUDIT, now)),
        }
        if self.event_log is not None:
            counts[DataKind.EVENTS.value] = self.event_log.purge_before(cut(DataKind.EVENTS, now))
        outcome = " ".join(f"{k}={v}" for k, v in counts.items())
        self.audit.append([AuditRecord(now, AuditAction.PURGE, caller, outcome=outcome)])
        log.info("event=retention_purge caller=%s %s", caller, outcome)
        return counts

    def read_audit(self, subject_ref: str | None, since_ms: int, limit: int) -> list[AuditRecord]:
        if limit < 1 or limit > 10_000:
            raise InvalidInput(f"must be between 1 and 10000, got {limit}", field="limit")
        if subject_ref is None:
            return self.audit.read(None, since_ms, limit)
        rows = [r for s in self._subjects(subject_ref) for r in self.audit.read(s, since_ms, limit)]
        return sorted(rows, key=lambda r: r.at_ms)[:limit]


# ---------------------------------------------------------------- batch: sessions


def _first_per(table: pa.Table, keys: list[str], aggs: list[tuple[str, str]]) -> pa.Table:
    """Ordered group-by: `first`/`last`/… follow the table's row order."""
    return table.group_by(keys, use_threads=False).aggregate(aggs)


def _by_session(table: pa.Table, columns: list[str]) -> dict[str, tuple[Any, ...]]:
    rows = zip(*(table.column(c).to_pylist() for c in ["session_id", *columns]), strict=True)
    return {r[0]: r[1:] for r in rows}


def build_session_identity(
    hits: pa.Table, resolved: pa.Table, pseudonymizer: Pseudonymizer
) -> pa.Table:
    """SESSION_IDENTITY for the batch pipeline: the strongest recognition each session
    reached for the *personalisation* purpose.

    A login (a hit with `login_subscriber_id`) authenticates the session from then on.
    Network evidence counts only from hits whose `consent_personalisation` is true, and
    is dropped altogether when the session's last hit says consent is withdrawn
    (revocation wins). A line beats a household; then the target with most hits, then the
    higher confidence. Network evidence never attaches a line of another subscriber to a
    logged-in session. Per-hit work is vectorised (Arrow); only sessions are looped over.
    """
    hits = require_columns(hits, HITS, "hits")
    resolved = require_columns(resolved, RESOLVED_HITS, "resolved_hits")
    t = hits.select(
        [
            "hit_id",
            "session_id",
            "ts_ms",
            "visitor_id",
            "channel",
            "login_subscriber_id",
            "consent_personalisation",
        ]
    ).sort_by([("session_id", "ascending"), ("ts_ms", "ascending"), ("hit_id", "ascending")])
    # A hash lookup of each hit's resolution (a hit without one gets nulls): a third of
    # the time of a join here.
    matched = resolved.take(pc.index_in(t["hit_id"], value_set=resolved["hit_id"]))
    for name in ("level", "confidence", "line_id", "subscriber_id", "household_id", "account_id"):
        t = t.append_column(name, matched[name])
    t = t.append_column("row", pa.array(np.arange(t.num_rows, dtype=np.int64)))
    consent = pc.fill_null(t["consent_personalisation"], False)
    sessions = _first_per(
        t.set_column(t.schema.get_field_index("consent_personalisation"), "consent", consent),
        ["session_id"],
        [
            ("ts_ms", "min"),
            ("ts_ms", "max"),
            ("visitor_id", "first"),
            ("channel", "first"),
            ("consent", "last"),
        ],
    )
    login_rows = t.filter(
        pc.fill_null(pc.greater(pc.utf8_length(t["login_subscriber_id"]), 0), False)
    )
    first_logins = _first_per(
        login_rows, ["session_id"], [("ts_ms", "first"), ("login_subscriber_id", "first")]
    )
    logins = dict(
        zip(
            first_logins["session_id"].to_pylist(),
            zip(
                first_logins["ts_ms_first"].to_pylist(),
                pseudonymizer.many(
                    IdKind.SUBSCRIBER, first_logins["login_subscriber_id_first"].to_pylist()
                ),
                strict=True,
            ),
            strict=True,
        )
    )
    is_line = pc.fill_null(pc.equal(t["level"], Level.LINE.value), False)
    is_household = pc.fill_null(pc.equal(t["level"], Level.HOUSEHOLD.value), False)
    target = pc.if_else(is_line, t["line_id"], pc.if_else(is_household, t["household_id"], None))
    usable = pc.and_(consent, pc.is_valid(target))
    net = (
        t.select(["session_id", "ts_ms", "confidence", "row"])
        .append_column("target", target)
        .append_column("is_line", is_line)
        .filter(usable)
    )
    per_target = _first_per(
        net,
        ["session_id", "target"],
        [("row", "first"), ("row", "count"), ("is_line", "first"), ("confidence", "max")],
    ).rename_columns(
        {
            "row_first": "row",
            "row_count": "hits",
            "is_line_first": "is_line",
            "confidence_max": "confidence",
        }
    )
    best = _first_per(
        per_target.sort_by(
            [
                ("session_id", "ascending"),
                ("is_line", "descending"),
                ("hits", "descending"),
                ("confidence", "descending"),
            ]
        ),
        ["session_id"],
        [("row", "first"), ("is_line", "first"), ("confidence", "first")],
    )
    ids = ("line_id", "subscriber_id", "household_id", "account_id")
    chosen = t.select(list(ids)).take(best["row_first"])
    for name in ids:
        best = best.append_column(name, chosen[name])
    # session → (is_line, confidence, line, subscriber, household, account)
    networks = _by_session(best, ["is_line_first", "confidence_first", *ids])
    network_ms = _by_session(_first_per(net, ["session_id"], [("ts_ms", "min")]), ["ts_ms_min"])
    subscribed = t.filter(pc.is_valid(t["subscriber_id"]))
    crm_of = {
        sub: (hh, acc)
        for sub, hh, acc in zip(
            *(
                _first_per(
                    subscribed,
                    ["subscriber_id"],
                    [("household_id", "first"), ("account_id", "first")],
                )
                .column(c)
                .to_pylist()
                for c in ("subscriber_id", "household_id_first", "account_id_first")
            ),
            strict=True,
        )
    }
    out: dict[str, list[Any]] = {name: [] for name in SESSION_IDENTITY.names}
    visitors = pseudonymizer.many(
        IdKind.VISITOR, [v or "" for v in sessions["visitor_id_first"].to_pylist()]
    )
    columns = zip(
        sessions["session_id"].to_pylist(),
        visitors,
        sessions["ts_ms_min"].to_pylist(),
        sessions["ts_ms_max"].to_pylist(),
        sessions["channel_first"].to_pylist(),
        sessions["consent_last"].to_pylist(),
        strict=True,
    )
    for sid, visitor, start_ms, end_ms, channel, consent_now in columns:
        # withdrawn by the end of the session: no network ids at all
        network = networks.get(sid) if consent_now else None
        login = logins.get(sid)
        line = sub = hh = acc = None
        confidence = 0.0
        recognised_ms: int | None = None
        login_ms: int | None = None
        if login is not None:
            state = RecognitionState.AUTHENTICATED
            login_ms = login[0]
            sub, confidence = login[1], 1.0
            hh, acc = crm_of.get(sub, (None, None))
            if network is not None and network[0] and network[3] == sub:
                line = network[2]
            first_network = network_ms[sid][0] if network is not None else None
            recognised_ms = min(t for t in (first_network, login_ms) if t is not None)
        elif network is not None:
            line_level, confidence, net_line, net_sub, hh, acc = network
            state = (
                RecognitionState.NETWORK_LINE if line_level else RecognitionState.NETWORK_HOUSEHOLD
            )
            if line_level:
                line, sub = net_line, net_sub
            recognised_ms = network_ms[sid][0]
        else:
            state = RecognitionState.ANONYMOUS
        values = (
            sid,
            visitor,
            start_ms,
            end_ms,
            channel,
            state.value,
            recognised_ms,
            login_ms,
            confidence,
            line,
            sub,
            hh,
            acc,
            bool(consent_now),
        )
        for name, value in zip(SESSION_IDENTITY.names, values, strict=True):
            out[name].append(value)
    return pa.Table.from_pydict(out, schema=SESSION_IDENTITY)
