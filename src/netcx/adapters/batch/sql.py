"""The batch resolution SQL: one set of pure builders, rendered for DuckDB or Spark SQL.

Mirrors the real-time resolver (`netcx.domain.network.resolver`, network-logs.md §3.8): per
binding key, A = the last binding starting at or before T+ε and P = the binding before it
(carried on A's row by LAG); a hit within ε of a change of holder is a `boundary`; a binding
that does not contain T but is within ε is `skew`; T after the last proof of life but before
an inferred end is `inferred_tail`. DuckDB finds A with an ASOF JOIN; Spark has none, so A
is the one binding with start ≤ T+ε < next start (LEAD), an equi-join plus a range filter.
For port blocks (the largest binding table) DuckDB finds A with the packed index instead
(`packed.choose_block_rows`, between stages `hp` and `hb`) and joins it by row number.

Tables the stages read: `leases_in` (BINDING_LEASES), `blocks_in` (BINDING_BLOCKS),
`layout_in` (BINDING_LAYOUT), `li` (LINE_IDS), `hits_src` (hit_id, ts_ms, src_ip, src_port)
and, built per run by `inputs.py`, `ipc` (ADDRESS_CLASSES: one row per distinct address),
`v6p` (V6_PROBES) and the deterministic NAT config as `nat_out` / `nat_in` address segments.
"""

from __future__ import annotations

from dataclasses import dataclass

from netcx.domain.network import resolver as r
from netcx.domain.network.directory import UNKNOWN_HOLDER_PREFIX
from netcx.domain.network.leases import DELEGATED_V6
from netcx.domain.network.timeline import CONFIDENCE, CONTAINED, OPEN_END_MS, SKEW, TAIL
from netcx.tables import BINDING_FIELDS

CARRIED = [n for n, _ in BINDING_FIELDS]
INSIDE = ["inside_vrf", "inside_ip"]
EVIDENCE_FIELDS = ("kind", "ref", "source", "start_ms", "end_ms", "detail")

# Path classes of an address (ADDRESS_CLASSES.cls)
INVALID, NOT_OURS, INFRA, PUBLIC, CGNAT, DET, V6 = (
    "invalid", "not_ours", "infra", "public", "cgnat", "det", "v6",
)  # fmt: skip


@dataclass(frozen=True)
class Dialect:
    """What differs between the engines: integer division, JSON objects, the A-join."""

    name: str  # duckdb | spark
    packed_blocks: bool = False  # port-block A from `packed.choose_block_rows` (DuckDB)

    def idiv(self, a: str, b: str) -> str:
        op = "//" if self.name == "duckdb" else "div"
        return f"(({a}) {op} ({b}))"

    def json_object(self, fields: list[tuple[str, str]]) -> str:
        """A compact JSON object text with every field, nulls included."""
        args = ", ".join(f"'{k}', {v}" for k, v in fields)
        if self.name == "duckdb":
            return f"CAST(json_object({args}) AS VARCHAR)"
        return f"to_json(named_struct({args}), map('ignoreNullFields', 'false'))"

    def last_at_or_before(
        self, left: str, right: str, keys: list[tuple[str, str]], at: str, start: str, nxt: str
    ) -> str:
        """`left l` joined to the row of `right b` with the same keys and the greatest
        `start` ≤ `at` (NULLs when none); `nxt` is the next row's start (LEAD) in `right`."""
        eq = " AND ".join(f"{lk} = b.{rk}" for lk, rk in keys)
        if self.name == "duckdb":
            return f"{left} l ASOF LEFT JOIN {right} b ON {eq} AND {at} >= b.{start}"
        return (
            f"{left} l LEFT JOIN {right} b ON {eq} AND {at} >= b.{start} "
            f"AND (b.{nxt} IS NULL OR {at} < b.{nxt})"
        )


DUCKDB, SPARK = Dialect("duckdb", packed_blocks=True), Dialect("spark")
DIALECTS = {d.name: d for d in (DUCKDB, SPARK)}


# ---------------------------------------------------------------- binding stages


def with_previous_sql(table: str, keys: list[str], extra: list[str], rows: bool = False) -> str:
    """Bindings plus the previous binding of the same key (P of the timeline rule) and the
    next binding's start (bounds A in the range join); with `rows`, `brow` numbers them in
    (keys, start_ms) order (the row numbers of the packed index)."""
    part = ", ".join(keys)
    w = f"OVER (PARTITION BY {part} ORDER BY start_ms)"
    lags = ", ".join(f"lag({c}) {w} AS p_{c}" for c in CARRIED + extra)
    brow = f", row_number() OVER (ORDER BY {part}, start_ms) - 1 AS brow" if rows else ""
    return f"SELECT *, {lags}, lead(start_ms) {w} AS next_start{brow} FROM {table}"


LAYOUT_SQL = (
    "SELECT *, lead(port_lo) OVER (PARTITION BY ip ORDER BY port_lo) AS next_lo FROM layout_in"
)


def binding_stages(d: Dialect) -> list[tuple[str, str]]:
    """(table, SELECT) that prepare the binding tables once for any number of hit batches."""
    return [
        ("leases", with_previous_sql("leases_in", ["ctx", "addr"], [])),
        ("blocks", with_previous_sql("blocks_in", ["ip", "port_lo"], INSIDE, d.packed_blocks)),
        ("layout", LAYOUT_SQL),
    ]


PREFIX_LENGTHS_SQL = """
SELECT DISTINCT CAST(regexp_extract(addr, '/([0-9]+)$', 1) AS INT) AS plen
FROM leases_in WHERE ctx = '' AND addr LIKE '%:%/%'
"""
"""IPv6 prefix lengths present in the leases (the probes of a v6 address, longest first)."""

DISTINCT_ADDRESSES_SQL = "SELECT DISTINCT ip FROM hq"

HITS_SQL = """
SELECT hit_id, CAST(ts_ms AS BIGINT) AS t, coalesce(src_ip, '') AS ip,
    CAST(src_port AS INT) AS port
FROM hits_src
"""
"""Hits normalised (a missing address is an invalid one: never dropped, one answer per hit)."""


# ---------------------------------------------------------------- hit stages


def _text(d: Dialect, expr: str) -> str:
    return f"CAST({expr} AS STRING)" if d.name == "spark" else f"CAST({expr} AS VARCHAR)"


def _ipv4_text(d: Dialect, n: str) -> str:
    octets = [f"({d.idiv(n, str(1 << s))} % 256)" for s in (24, 16, 8, 0)]
    return "concat(" + ", '.', ".join(_text(d, o) for o in octets) + ")"


def deterministic_sql(d: Dialect, hits: str) -> str:
    """Reverse RFC 7422 (sequential) per hit on a deterministic pool: the first config
    version valid at T whose outside pool holds the address gives m (outside index) and
    j = (port − first_port) div ports_per_subscriber; inside index k = m·s + j. Status
    rule | overflow (port outside the deterministic ranges); no row when no rule applies."""
    j = d.idiv("dc.port - dc.first_port", "dc.pps")
    lo = "(r.first_port + r.j * r.pps)"
    ev = d.json_object(
        [
            ("kind", "'nat_rule'"),
            ("ref", "r.ref"),
            ("source", "r.nat_instance"),
            ("start_ms", "r.valid_from_ms"),
            ("end_ms", "r.valid_to_ms"),
            ("detail", f"concat('ports ', {_text(d, lo)}, '-', {_text(d, f'{lo} + r.pps - 1')})"),
        ]
    )
    return f"""
    WITH dc AS (
        SELECT h.hit_id, h.port, o.*, o.first_idx + h.ip_int - o.lo AS m,
            row_number() OVER (PARTITION BY h.hit_id ORDER BY o.rule_no, o.first_idx) AS rn
        FROM {hits} h JOIN nat_out o ON h.ip_int >= o.lo AND h.ip_int < o.lo + o.span
            AND o.valid_from_ms <= h.t AND (o.valid_to_ms IS NULL OR h.t < o.valid_to_ms)
        WHERE h.cls = '{DET}' AND h.port IS NOT NULL
    ), dr AS (
        SELECT dc.*, {j} AS j FROM dc WHERE rn = 1
    ), dk AS (
        SELECT r.*, i.lo + r.m * r.per_addr + r.j - i.first_idx AS inside_int,
            row_number() OVER (PARTITION BY r.hit_id ORDER BY i.first_idx) AS rn2
        FROM dr r LEFT JOIN nat_in i ON i.rule_no = r.rule_no
            AND r.m * r.per_addr + r.j >= i.first_idx
            AND r.m * r.per_addr + r.j < i.first_idx + i.span
    )
    SELECT hit_id,
        CASE WHEN port < first_port OR j >= per_addr OR inside_int IS NULL THEN 'overflow'
             ELSE 'rule' END AS det_status,
        inside_vrf AS det_vrf,
        {_ipv4_text(d, "inside_int")} AS det_inside,
        {ev} AS det_ev
    FROM dk r WHERE rn2 = 1
    """


def hits_sql(d: Dialect) -> str:
    """Hits with their address class and, on deterministic pools, the RFC 7422 answer."""
    return f"""
    WITH hc AS (
        SELECT hq.hit_id, hq.t, hq.ip, hq.port, ipc.cls, ipc.v6_fallback, ipc.ip_int
        FROM hq JOIN ipc ON ipc.ip = hq.ip
    ), det AS ({deterministic_sql(d, "hc")})
    SELECT hc.*, det.det_status, det.det_vrf, det.det_inside, det.det_ev
    FROM hc LEFT JOIN det ON det.hit_id = hc.hit_id
    """


H_COLS = [
    "hit_id", "t", "ip", "port", "cls", "v6_fallback", "ip_int",
    "det_status", "det_vrf", "det_inside", "det_ev",
]  # fmt: skip
"""Columns of stage `h`; later stages carry them along instead of joining back on hit_id."""


def _h_cols(alias: str = "") -> str:
    return ", ".join(f"{alias}{c}" for c in H_COLS)


def block_probes_sql(d: Dialect) -> str:
    """Every hit, with the first port of the block layout entry its port falls in when it
    takes the port-block path (cgnat, or deterministic overflow); NULL otherwise."""
    join = d.last_at_or_before("h", "layout", [("l.ip", "ip")], "l.port", "port_lo", "next_lo")
    return f"""
    SELECT l.*,
        CASE WHEN (l.cls = '{CGNAT}' OR l.det_status = 'overflow') AND b.port_lo IS NOT NULL
                  AND l.port <= b.port_hi AND (l.port - b.port_lo) % b.step = 0
             THEN b.port_lo END AS blk_lo
    FROM {join}
    """


def choose_sql(
    d: Dialect,
    probes: str,
    bindings: str,
    keys: list[tuple[str, str]],
    extra: list[str],
    eps_ms: int,
    rows: str | None = None,
) -> str:
    """Join probes (hit_id, t, …) to the binding A of their key and apply the ε rule of
    Timeline.choose: status none | boundary | ok, the chosen binding's columns c_*, its
    quality and its evidence JSON (`ev`). With `rows`, A is not searched for here: the
    table `rows` (hit_id, a_row) names it by `brow` (NULL: no A), found beforehand."""
    eps = int(eps_ms)  # a setting, never input; an int literal keeps both dialects happy
    cols = CARRIED + extra
    carried = ", ".join(f"b.{c}, b.p_{c}" for c in cols)
    chosen = ", ".join(f"CASE WHEN use_prev THEN p_{c} ELSE {c} END AS c_{c}" for c in cols)
    if rows is None:
        join = d.last_at_or_before(probes, bindings, keys, f"l.t + {eps}", "start_ms", "next_start")
    else:
        # (the key check only matters if block ranges overlapped: then a probe's own key
        # may have no binding while the index finds a neighbour's; it is none, as live)
        same_key = "".join(f" AND {lk} = b.{rk}" for lk, rk in keys)
        join = (
            f"{probes} l LEFT JOIN {rows} r ON r.hit_id = l.hit_id "
            f"LEFT JOIN {bindings} b ON b.brow = r.a_row{same_key}"
        )
    open_end = f"CASE WHEN c_end_ms >= {OPEN_END_MS} THEN NULL ELSE c_end_ms END"
    ev = d.json_object([(f, open_end if f == "end_ms" else f"c_{f}") for f in EVIDENCE_FIELDS])
    return f"""
    WITH j AS (
        SELECT l.*, {carried} FROM {join}
    ), dd AS (
        SELECT *,
            CASE WHEN start_ms IS NULL OR end_ms <= t - {eps} THEN 'none'
                 WHEN p_end_ms IS NOT NULL AND p_end_ms > t - {eps} AND p_holder <> holder
                     THEN 'boundary'
                 ELSE 'ok' END AS status,
            coalesce(p_end_ms > t - {eps} AND start_ms > t, false) AS use_prev
        FROM j
    ), c AS (SELECT *, {chosen} FROM dd)
    SELECT *,
        CASE WHEN status <> 'ok' THEN NULL
             WHEN NOT (c_start_ms <= t AND t < c_end_ms) THEN '{SKEW}'
             WHEN c_inferred AND t > c_confirmed_ms THEN '{TAIL}'
             ELSE '{CONTAINED}' END AS quality,
        CASE WHEN status = 'ok' THEN {ev} END AS ev
    FROM c
    """


def blocks_chosen_sql(d: Dialect, eps_ms: int) -> str:
    """Every hit, with its port block's holder near T (b_status, bq, b_ev, inside address).
    With packed blocks, the probes are stage `hp` and A's rows the table `block_a`."""
    keys = [("l.ip", "ip"), ("l.blk_lo", "port_lo")]
    if d.packed_blocks:
        chosen = choose_sql(d, "hp", "blocks", keys, INSIDE, eps_ms, rows="block_a")
    else:
        chosen = choose_sql(d, f"({block_probes_sql(d)})", "blocks", keys, INSIDE, eps_ms)
    return f"""SELECT {_h_cols()}, status AS b_status, quality AS bq, ev AS b_ev,
        c_inside_vrf AS b_vrf, c_inside_ip AS b_inside
    FROM ({chosen}) cb"""


B_COLS = ["b_status", "bq", "b_ev"]


def leases_chosen_sql(d: Dialect, eps_ms: int) -> str:
    """Every hit, with the lease holder near T of the address it reached (public address,
    deterministic or block inside address, IPv6 prefix). An IPv6 address is probed at every
    prefix length; the longest prefix with a binding near T decides."""
    keys = [("l.ctx", "ctx"), ("l.addr", "addr")]
    carried = ", ".join([*H_COLS, *B_COLS])
    v4 = f"""(
        SELECT {carried},
            CASE WHEN cls = '{PUBLIC}' THEN '' WHEN det_status = 'rule' THEN det_vrf
                 WHEN b_status = 'ok' THEN b_vrf END AS ctx,
            CASE WHEN cls = '{PUBLIC}' THEN ip WHEN det_status = 'rule' THEN det_inside
                 WHEN b_status = 'ok' THEN b_inside END AS addr
        FROM hb WHERE cls <> '{V6}'
    )"""
    v6 = f"""(
        SELECT {_h_cols("hb.")}, {", ".join(f"hb.{c}" for c in B_COLS)},
            '' AS ctx, v6p.addr, v6p.plen
        FROM hb LEFT JOIN v6p ON v6p.ip = hb.ip WHERE hb.cls = '{V6}'
    )"""
    cols = f"""{carried}, status AS l_status, quality AS lq, ev AS l_ev, c_holder AS holder,
        c_detail AS l_detail"""
    return f"""
    SELECT {cols} FROM ({choose_sql(d, v4, "leases", keys, [], eps_ms)}) c4
    UNION ALL
    SELECT {cols} FROM (
        SELECT *, row_number() OVER (
            PARTITION BY hit_id ORDER BY (status = 'none'), plen DESC) AS pick
        FROM ({choose_sql(d, v6, "leases", keys, [], eps_ms)}) c6
    ) p6 WHERE pick = 1
    """


def _conf(q: str) -> str:
    cases = " ".join(f"WHEN '{k}' THEN CAST({v!r} AS DOUBLE)" for k, v in CONFIDENCE.items())
    return f"(CASE {q} {cases} ELSE CAST(1.0 AS DOUBLE) END)"


def assemble_sql() -> str:
    """One RESOLVED_HITS row per hit from the stage results (mirrors NetworkResolver)."""
    household = f"(fixed OR l_detail = '{DELEGATED_V6}')"
    return f"""
    WITH y AS (
        SELECT x.*, li.line_p, li.sub_p, li.hh_p, li.acc_p, li.fixed,
            CASE
                WHEN cls = '{INVALID}' THEN '{r.INVALID_IP}'
                WHEN cls = '{NOT_OURS}' THEN '{r.NOT_OURS}'
                WHEN cls = '{INFRA}' THEN '{r.INFRA}'
                WHEN cls IN ('{CGNAT}', '{DET}') AND port IS NULL THEN '{r.NO_PORT}'
                WHEN cls = '{DET}' AND det_status IS NULL THEN '{r.NO_RULE}'
                WHEN (cls = '{CGNAT}' OR det_status = 'overflow')
                    AND coalesce(b_status, 'none') = 'none' THEN '{r.NO_BLOCK}'
                WHEN (cls = '{CGNAT}' OR det_status = 'overflow') AND b_status = 'boundary'
                    THEN '{r.R_BOUNDARY}'
                WHEN cls = '{V6}' AND coalesce(l_status, 'none') = 'none' THEN v6_fallback
                WHEN coalesce(l_status, 'none') = 'none' THEN '{r.NO_LEASE}'
                WHEN l_status = 'boundary' THEN '{r.R_BOUNDARY}'
                WHEN substr(x.holder, 1, 1) = '{UNKNOWN_HOLDER_PREFIX}' OR li.line_p IS NULL
                    THEN '{r.UNKNOWN_LINE}'
                ELSE NULL END AS fail,
            CASE
                WHEN cls = '{PUBLIC}' THEN '{r.VIA_RADIUS}'
                WHEN cls = '{V6}' THEN '{r.VIA_PREFIX}'
                WHEN det_status = 'rule' THEN '{r.VIA_RULE}'
                ELSE '{r.VIA_BLOCK}' END AS base,
            CASE WHEN det_status = 'rule' THEN det_ev WHEN b_status = 'ok' THEN b_ev END AS prior
        FROM hl x LEFT JOIN li ON li.holder = x.holder
    )
    SELECT hit_id,
        CASE WHEN fail IS NOT NULL THEN 'unknown'
             WHEN {household} THEN 'household'
             ELSE 'line' END AS level,
        CASE WHEN fail IS NOT NULL THEN fail
             ELSE concat(base,
                CASE WHEN bq IS NOT NULL AND bq <> '{CONTAINED}' THEN concat('+', bq) ELSE '' END,
                CASE WHEN lq <> '{CONTAINED}' AND coalesce(lq <> bq, true) THEN concat('+', lq)
                     ELSE '' END)
             END AS reason,
        CAST(CASE WHEN fail IS NOT NULL THEN 0.0
             ELSE round(CAST(1.0 AS DOUBLE) * {_conf("bq")} * {_conf("lq")}, 4) END AS FLOAT)
            AS confidence,
        CASE WHEN fail IS NULL THEN line_p END AS line_id,
        CASE WHEN fail IS NULL AND NOT {household} THEN sub_p
            END AS subscriber_id,
        CASE WHEN fail IS NULL THEN hh_p END AS household_id,
        CASE WHEN fail IS NULL THEN acc_p END AS account_id,
        -- a prior (rule or block) exists only on the way to a lease, and every outcome
        -- of the lease stage reports it
        concat('[', concat_ws(',', prior,
            CASE WHEN fail IS NULL OR fail = '{r.UNKNOWN_LINE}' THEN l_ev END), ']') AS evidence
    FROM y
    """


def hit_stages(d: Dialect, eps_ms: int) -> list[tuple[str, str]]:
    """(table, SELECT) in order after `hq`, `ipc`, `v6p`, `nat_out`, `nat_in` and `li` are
    loaded and the binding stages have run; the last one is the answer (unordered). Each
    stage adds columns to every hit, so no stage joins hits with hits."""
    probes = [("hp", block_probes_sql(d))] if d.packed_blocks else []
    return [
        ("h", hits_sql(d)),
        *probes,
        ("hb", blocks_chosen_sql(d, eps_ms)),
        ("hl", leases_chosen_sql(d, eps_ms)),
        ("answer", assemble_sql()),
    ]
