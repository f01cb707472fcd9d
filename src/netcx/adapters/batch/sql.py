"""Engine-neutral SQL for batch resolution (runs unchanged on DuckDB and Spark SQL).

Mirrors the rules of the real-time resolver and the net area's DuckDB ASOF path
(docs/resolution.md, network-logs.md §3): per binding key, A = the last binding starting at
or before T+ε, P = the binding before it (carried on A's row by LAG); a hit within ε of a
change of holder is a `boundary`; a binding that does not contain T but is within ε is
`skew`; T after the last proof of life but before an inferred end is `inferred_tail`.
ASOF JOIN is not in Spark, so A is the top row of a range join ranked by start.

Tables the builders read: `leases` (LEASES), `blocks` (BLOCKS), `layout` (LAYOUT) — the
normalised binding tables — plus `h` (hit_id, t, ip, port, cls), `li` (holder → pseudonyms).
"""

from __future__ import annotations

# The interval rules and their confidences are the real-time resolver's (one definition).
from netcx.domain.network.timeline import CONFIDENCE, CONTAINED, SKEW, TAIL

NOT_OURS, INFRA, NO_PORT, NO_BLOCK = "not_ours", "infrastructure", "no_port", "no_block"
NO_LEASE, UNKNOWN_LINE, R_BOUNDARY = "no_lease", "unknown_line", "boundary"
VIA_RADIUS, VIA_BLOCK = "radius", "cgnat_block+radius"
UNSUPPORTED = "not_in_batch_engine"  # deterministic NAT, IPv6 prefixes: real-time path only
UNKNOWN_HOLDER_PREFIX = "?"

CARRIED = [
    "start_ms",
    "end_ms",
    "confirmed_ms",
    "inferred",
    "holder",
    "kind",
    "ref",
    "source",
    "detail",
]


def with_previous_sql(table: str, keys: list[str], extra: list[str]) -> str:
    """Bindings plus the previous binding of the same key (P of the timeline rule)."""
    lags = ", ".join(
        f"lag({c}) OVER (PARTITION BY {', '.join(keys)} ORDER BY start_ms) AS p_{c}"
        for c in CARRIED + extra
    )
    return f"SELECT *, {lags} FROM {table}"


def choose_sql(probes: str, bindings: str, on: str, extra: list[str], eps_ms: int) -> str:
    """Join probes (hit_id, t, …) to the binding A of their key and apply the ε rule:
    status none | boundary | ok, the chosen binding's columns c_*, and its quality."""
    eps = int(eps_ms)  # a setting, never input; an int literal keeps both dialects happy
    cols = CARRIED + extra
    carried = ", ".join(f"b.{c}, b.p_{c}" for c in cols)
    chosen = ", ".join(f"CASE WHEN use_prev THEN p_{c} ELSE {c} END AS c_{c}" for c in cols)
    return f"""
    WITH ranked AS (
        SELECT pr.*, {carried},
            row_number() OVER (PARTITION BY pr.hit_id ORDER BY b.start_ms DESC) AS rn
        FROM {probes} pr LEFT JOIN {bindings} b ON {on} AND pr.t + {eps} >= b.start_ms
    ), j AS (SELECT * FROM ranked WHERE rn = 1),
    d AS (
        SELECT *,
            CASE WHEN start_ms IS NULL OR end_ms <= t - {eps} THEN 'none'
                 WHEN p_end_ms IS NOT NULL AND p_end_ms > t - {eps} AND p_holder <> holder
                     THEN 'boundary'
                 ELSE 'ok' END AS status,
            coalesce(p_end_ms > t - {eps} AND start_ms > t, false) AS use_prev
        FROM j
    ), c AS (SELECT *, {chosen} FROM d)
    SELECT *,
        CASE WHEN status <> 'ok' THEN NULL
             WHEN NOT (c_start_ms <= t AND t < c_end_ms) THEN '{SKEW}'
             WHEN c_inferred AND t > c_confirmed_ms THEN '{TAIL}'
             ELSE '{CONTAINED}' END AS quality
    FROM c
    """


BLOCK_PROBES = """
SELECT q.hit_id, q.t, q.ip,
    CASE WHEN l.port_lo IS NOT NULL AND q.port <= l.port_hi
              AND (q.port - l.port_lo) % l.step = 0 THEN l.port_lo END AS blk_lo
FROM (SELECT hit_id, t, ip, port FROM h WHERE port IS NOT NULL AND cls = 'cgnat') q
LEFT JOIN (
    SELECT q2.hit_id, l2.*, row_number() OVER (
        PARTITION BY q2.hit_id ORDER BY l2.port_lo DESC) AS rn
    FROM h q2 JOIN layout l2 ON q2.ip = l2.ip AND q2.port >= l2.port_lo
    WHERE q2.cls = 'cgnat' AND q2.port IS NOT NULL
) l ON l.hit_id = q.hit_id AND l.rn = 1
"""

LEASE_PROBES = """
SELECT hit_id, t, '' AS ctx, ip AS addr FROM h WHERE cls = 'public'
UNION ALL SELECT hit_id, t, c_inside_vrf, c_inside_ip FROM blk WHERE status = 'ok'
"""


def _conf(q: str) -> str:
    cases = " ".join(f"WHEN '{k}' THEN CAST({v!r} AS DOUBLE)" for k, v in CONFIDENCE.items())
    return f"(CASE {q} {cases} ELSE CAST(1.0 AS DOUBLE) END)"


def _ev(prefix: str, alias: str) -> str:
    return ", ".join(
        f"{alias}.c_{c} AS {prefix}_{c}"
        for c in ("kind", "ref", "source", "start_ms", "end_ms", "detail")
    )


def assemble_sql() -> str:
    """One row per hit: level, reason, confidence, ids, and the evidence columns."""
    return f"""
    WITH x AS (
        SELECT h.hit_id, h.t, h.cls, h.port,
            blk.status AS b_status, blk.quality AS bq, {_ev("b", "blk")},
            ls.status AS l_status, ls.quality AS lq, {_ev("l", "ls")}, ls.c_holder AS holder
        FROM h LEFT JOIN blk ON blk.hit_id = h.hit_id LEFT JOIN ls ON ls.hit_id = h.hit_id
    ), y AS (
        SELECT *,
            CASE
                WHEN cls = 'not_ours' THEN '{NOT_OURS}'
                WHEN cls = 'infra' THEN '{INFRA}'
                WHEN cls = 'unsupported' THEN '{UNSUPPORTED}'
                WHEN cls = 'cgnat' AND port IS NULL THEN '{NO_PORT}'
                WHEN cls = 'cgnat' AND coalesce(b_status, 'none') = 'none' THEN '{NO_BLOCK}'
                WHEN cls = 'cgnat' AND b_status = 'boundary' THEN '{R_BOUNDARY}'
                WHEN coalesce(l_status, 'none') = 'none' THEN '{NO_LEASE}'
                WHEN l_status = 'boundary' THEN '{R_BOUNDARY}'
                WHEN substr(holder, 1, 1) = '{UNKNOWN_HOLDER_PREFIX}' THEN '{UNKNOWN_LINE}'
                ELSE NULL END AS fail,
            CASE WHEN cls = 'public' THEN '{VIA_RADIUS}' ELSE '{VIA_BLOCK}' END AS base
        FROM x
    )
    SELECT y.*,
        CASE WHEN fail IS NOT NULL THEN 'unknown'
             WHEN li.fixed THEN 'household'
             ELSE 'line' END AS level,
        CASE WHEN fail IS NOT NULL THEN fail
             ELSE concat(base,
                CASE WHEN bq IS NOT NULL AND bq <> 'contained' THEN concat('+', bq) ELSE '' END,
                CASE WHEN lq <> 'contained' AND (bq IS NULL OR lq <> bq) THEN concat('+', lq)
                     ELSE '' END)
             END AS reason,
        CAST(CASE WHEN fail IS NOT NULL THEN 0.0
             ELSE round(CAST(1.0 AS DOUBLE) * {_conf("bq")} * {_conf("lq")}, 4) END AS FLOAT)
            AS confidence,
        CASE WHEN fail IS NULL THEN li.line_p END AS line_id,
        CASE WHEN fail IS NULL AND NOT li.fixed THEN li.sub_p END AS subscriber_id,
        CASE WHEN fail IS NULL THEN li.hh_p END AS household_id,
        CASE WHEN fail IS NULL THEN li.acc_p END AS account_id
    FROM y LEFT JOIN li ON li.holder = y.holder
    ORDER BY y.hit_id
    """


def stages(eps_ms: int) -> list[tuple[str, str]]:
    """(table name, SELECT) in order; the last one is the answer."""
    return [
        ("leases", with_previous_sql("leases_in", ["ctx", "addr"], [])),
        ("blocks", with_previous_sql("blocks_in", ["ip", "port_lo"], ["inside_vrf", "inside_ip"])),
        ("bprobe", BLOCK_PROBES),
        (
            "blk",
            choose_sql(
                "bprobe",
                "blocks",
                "pr.ip = b.ip AND pr.blk_lo = b.port_lo",
                ["inside_vrf", "inside_ip"],
                eps_ms,
            ),
        ),
        ("lprobe", LEASE_PROBES),
        ("ls", choose_sql("lprobe", "leases", "pr.ctx = b.ctx AND pr.addr = b.addr", [], eps_ms)),
        ("answer", assemble_sql()),
    ]
