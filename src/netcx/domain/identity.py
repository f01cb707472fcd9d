"""The identity graph: visitors linked to lines, subscribers, households and accounts by edges.

Nodes are pseudonyms (their prefix names the kind). Edges carry where they come from:

- `login`: a visitor identified itself (deterministic; the only link that authenticates);
- `crm`: CRM facts (line → subscriber, line → household, household → account …);
- `network`: the operator's network said this visitor's address was held by a line or
  household. Network edges expire (`ttl_s`) and are never a merge key: recognition uses them
  only for a visitor that has not logged in, and they never tie an authenticated visitor to
  another customer.

A wrong link is undone by retracting the edge (`retract`): the edge stays as a tombstone so
the history is auditable, and nothing keyed by the visitor (events, intents) is touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum

import msgspec

from netcx.domain.consent import Purpose
from netcx.domain.pseudonyms import IdKind, kind_of_pseudonym
from netcx.domain.resolution import Level, Resolution


class NodeKind(StrEnum):
    VISITOR = "visitor"
    DEVICE = "device"
    LINE = "line"
    SUBSCRIBER = "subscriber"
    HOUSEHOLD = "household"
    ACCOUNT = "account"


_ID_KIND = {
    NodeKind.VISITOR: IdKind.VISITOR,
    NodeKind.DEVICE: IdKind.DEVICE,
    NodeKind.LINE: IdKind.LINE,
    NodeKind.SUBSCRIBER: IdKind.SUBSCRIBER,
    NodeKind.HOUSEHOLD: IdKind.HOUSEHOLD,
    NodeKind.ACCOUNT: IdKind.ACCOUNT,
}
_NODE_KIND = {v: k for k, v in _ID_KIND.items()}


def id_kind(kind: NodeKind) -> IdKind:
    return _ID_KIND[kind]


def node_kind(node: str) -> NodeKind | None:
    """The kind of graph node a pseudonym stands for (None: not a node pseudonym)."""
    kind = kind_of_pseudonym(node)
    return None if kind is None else _NODE_KIND.get(kind)


class EdgeSource(StrEnum):
    NETWORK = "network"
    LOGIN = "login"
    CRM = "crm"


class RecognitionState(StrEnum):
    """Weakest to strongest."""

    ANONYMOUS = "anonymous"
    NETWORK_HOUSEHOLD = "network_household"
    NETWORK_LINE = "network_line"
    AUTHENTICATED = "authenticated"


class Edge(msgspec.Struct, frozen=True, omit_defaults=True):
    """A link between two nodes (pseudonyms), with its provenance and lifetime."""

    src: str
    dst: str
    source: EdgeSource
    confidence: float
    first_seen_ms: int
    last_seen_ms: int
    ttl_s: int | None = None  # network edges only
    reason: str = ""
    evidence: tuple[str, ...] = ()  # pseudonymised evidence refs (ev…)
    retracted_ms: int | None = None
    retracted_by: str = ""

    @property
    def key(self) -> str:
        return edge_key(self.src, self.dst, self.source)

    @property
    def expires_ms(self) -> int | None:
        return None if self.ttl_s is None else self.last_seen_ms + self.ttl_s * 1000

    def active_at(self, at_ms: int) -> bool:
        """Usable for recognition at `at_ms`: not retracted and not expired."""
        if self.retracted_ms is not None:
            return False
        expires = self.expires_ms
        return expires is None or at_ms < expires

    def other(self, node: str) -> str:
        return self.dst if node == self.src else self.src


def edge_key(src: str, dst: str, source: EdgeSource | str) -> str:
    return f"{src}|{dst}|{source}"


_MAX_EVIDENCE = 8


def observe(existing: Edge | None, seen: Edge) -> Edge:
    """Fold a new observation of an edge into the stored one.

    The seen window widens, the newest observation sets confidence and TTL, evidence refs
    accumulate (bounded). A retracted edge stays retracted unless a *later login* re-asserts
    it: network or CRM evidence never revives a link an operator has undone.
    """
    if existing is None:
        return seen
    if existing.retracted_ms is not None and not (
        seen.source is EdgeSource.LOGIN and seen.last_seen_ms > existing.retracted_ms
    ):
        return existing
    newer = seen.last_seen_ms >= existing.last_seen_ms
    evidence = tuple(dict.fromkeys((*seen.evidence, *existing.evidence)))[:_MAX_EVIDENCE]
    return msgspec.structs.replace(
        existing,
        confidence=seen.confidence if newer else existing.confidence,
        ttl_s=seen.ttl_s if newer else existing.ttl_s,
        reason=seen.reason if newer else existing.reason,
        first_seen_ms=min(existing.first_seen_ms, seen.first_seen_ms),
        last_seen_ms=max(existing.last_seen_ms, seen.last_seen_ms),
        evidence=evidence,
        retracted_ms=None,
        retracted_by="",
    )


def retract(edge: Edge, at_ms: int, by: str) -> Edge:
    """The edge undone at `at_ms` by `by` (kept as a tombstone)."""
    return msgspec.structs.replace(edge, retracted_ms=at_ms, retracted_by=by)


def login_edge(visitor: str, subscriber: str, at_ms: int) -> Edge:
    """A visitor logged in as `subscriber`: deterministic."""
    return Edge(
        src=visitor,
        dst=subscriber,
        source=EdgeSource.LOGIN,
        confidence=1.0,
        first_seen_ms=at_ms,
        last_seen_ms=at_ms,
        reason="login",
    )


def _crm(src: str | None, dst: str | None, at_ms: int) -> list[Edge]:
    if not src or not dst:
        return []
    return [Edge(src, dst, EdgeSource.CRM, 1.0, at_ms, at_ms, reason="crm")]


def crm_edges(
    line: str | None,
    subscriber: str | None,
    household: str | None,
    account: str | None,
    at_ms: int,
) -> list[Edge]:
    """The CRM links among one line's entities (any of them may be unknown): line →
    subscriber/household/account, subscriber → household, household → account."""
    return [
        *_crm(line, subscriber, at_ms),
        *_crm(line, household, at_ms),
        *_crm(line, account, at_ms),
        *_crm(subscriber, household, at_ms),
        *_crm(household, account, at_ms),
    ]


def edges_from_resolution(
    visitor: str, resolution: Resolution, at_ms: int, ttl_s: int, evidence: Sequence[str]
) -> list[Edge]:
    """The network edge (visitor → line or household) a resolution supports, plus the CRM
    edges it reports (line → subscriber/household/account, household → account)."""
    r = resolution
    if r.level is Level.LINE and r.line_id:
        target = r.line_id
        crm = crm_edges(r.line_id, r.subscriber_id, r.household_id, r.account_id, at_ms)
    elif r.level is Level.HOUSEHOLD and r.household_id:
        target = r.household_id
        crm = crm_edges(None, None, r.household_id, r.account_id, at_ms)
    else:
        return []
    network = Edge(
        src=visitor,
        dst=target,
        source=EdgeSource.NETWORK,
        confidence=r.confidence,
        first_seen_ms=at_ms,
        last_seen_ms=at_ms,
        ttl_s=ttl_s,
        reason=r.reason,
        evidence=tuple(evidence),
    )
    return [network, *crm]


class Recognition(msgspec.Struct, frozen=True, omit_defaults=True):
    """Who a visitor is for one purpose at one moment, and why. Ids are pseudonyms."""

    visitor_id: str
    state: RecognitionState
    purpose: Purpose
    confidence: float = 0.0
    reason: str = ""
    consented: bool = False
    line_id: str | None = None
    subscriber_id: str | None = None
    household_id: str | None = None
    account_id: str | None = None
    evidence: tuple[str, ...] = ()


def strongest_link(visitor_edges: Iterable[Edge], at_ms: int, *, use_network: bool) -> Edge | None:
    """The edge that decides a visitor's recognition at `at_ms`.

    An active login wins (the latest one, for a shared device). Network edges count only
    when `use_network` (the visitor consented for the purpose) and no login is active:
    a line beats a household, then the higher confidence, then the more recent.
    """
    logins: list[Edge] = []
    network: list[Edge] = []
    for e in visitor_edges:
        if not e.active_at(at_ms):
            continue
        if e.source is EdgeSource.LOGIN:
            logins.append(e)
        elif e.source is EdgeSource.NETWORK and use_network:
            network.append(e)
    if logins:
        return max(logins, key=lambda e: e.last_seen_ms)
    if network:
        return max(
            network,
            key=lambda e: (node_kind(e.dst) is NodeKind.LINE, e.confidence, e.last_seen_ms),
        )
    return None


def crm_ids(anchor: str, crm_edges: Iterable[Edge], at_ms: int) -> dict[NodeKind, str]:
    """The CRM entities reachable from `anchor` (itself included) over active CRM edges.

    Walks at most three hops (line → subscriber → household → account); a node kind is
    filled by the first edge that reaches it.
    """
    adjacency: dict[str, list[str]] = {}
    for e in crm_edges:
        if e.source is EdgeSource.CRM and e.active_at(at_ms):
            adjacency.setdefault(e.src, []).append(e.dst)
    found: dict[NodeKind, str] = {}
    kind = node_kind(anchor)
    if kind is not None:
        found[kind] = anchor
    frontier = [anchor]
    for _ in range(3):
        nxt: list[str] = []
        for node in frontier:
            for dst in adjacency.get(node, ()):
                k = node_kind(dst)
                if k is not None and k not in found:
                    found[k] = dst
                    nxt.append(dst)
        frontier = nxt
    return found


_STATE_OF_ANCHOR = {
    NodeKind.LINE: RecognitionState.NETWORK_LINE,
    NodeKind.HOUSEHOLD: RecognitionState.NETWORK_HOUSEHOLD,
}


def recognition_of(
    visitor: str,
    purpose: Purpose,
    consented: bool,
    link: Edge | None,
    crm_edges: Iterable[Edge],
    at_ms: int,
) -> Recognition:
    """The recognition a visitor gets from its deciding edge (see `strongest_link`)."""
    if link is None:
        return Recognition(
            visitor_id=visitor,
            state=RecognitionState.ANONYMOUS,
            purpose=purpose,
            consented=consented,
            reason="no_consent" if not consented else "no_evidence",
        )
    state = (
        RecognitionState.AUTHENTICATED
        if link.source is EdgeSource.LOGIN
        else _STATE_OF_ANCHOR.get(node_kind(link.dst) or NodeKind.VISITOR)
    )
    if state is None:
        raise ValueError(f"network edge to a {node_kind(link.dst)} node cannot recognise")
    ids = crm_ids(link.dst, crm_edges, at_ms)
    return Recognition(
        visitor_id=visitor,
        state=state,
        purpose=purpose,
        confidence=link.confidence,
        reason=link.reason,
        consented=consented,
        line_id=ids.get(NodeKind.LINE),
        subscriber_id=ids.get(NodeKind.SUBSCRIBER),
        household_id=ids.get(NodeKind.HOUSEHOLD),
        account_id=ids.get(NodeKind.ACCOUNT),
        evidence=link.evidence,
    )


def linked_visitors(
    profile_nodes: Iterable[str],
    edges_by_visitor: Mapping[str, Sequence[Edge]],
    at_ms: int,
) -> dict[str, Edge]:
    """Visitors that belong to a customer profile (the set of CRM nodes `profile_nodes`),
    each with the edge that links it.

    A login edge links. A network edge links only a visitor that is not logged in as
    someone: network evidence never ties an authenticated visitor to another customer.
    """
    nodes = set(profile_nodes)
    out: dict[str, Edge] = {}
    for visitor, edges in edges_by_visitor.items():
        link = strongest_link(edges, at_ms, use_network=True)
        if link is not None and link.dst in nodes:
            out[visitor] = link
    return out


class IntentNote(msgspec.Struct, frozen=True, omit_defaults=True):
    """A recently detected intent, as shown in a profile's context."""

    subject: str  # the visitor/line/… pseudonym it was detected for
    intent: str
    score: float
    at_ms: int
    session_id: str = ""
