"""Batch resolution in DuckDB: ASOF joins over binding tables, same rules as the real-time path.

The real-time resolver (`netcx.domain.network.resolver`) picks, per binding key, A = the
last binding starting at or before T+ε and P = the binding before it (see
`netcx.domain.network.timeline`). Here A is an ASOF JOIN and P is carried on A's row by
LAG, so one join per stage answers a whole table of hits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from netcx.domain.network import resolver as rules
from netcx.domain.network.directory import FIXED, UNKNOWN_HOLDER_PREFIX
from netcx.domain.network.leases import DELEGATED_V6
from netcx.domain.network.plan import (
    CGNAT_DETERMINISTIC,
    CGNAT_OUTSIDE,
    INFRASTRUCTURE,
    PUBLIC_FIXED,
    PUBLIC_MOBILE,
    prefix_key,
)
from netcx.domain.network.resolver import NetworkResolver
from netcx.domain.network.timeline import CONFIDENCE, OPEN_END_MS
from netcx.domain.pseudonyms import IdKind
from netcx.errors import InvalidInput
from netcx.tables import (
    BINDING_BLOCKS,
    BINDING_FIELDS,
    BINDING_LAYOUT,
    BINDING_LEASES,
    HITS,
    RESOLVED_HITS,
    require_columns,
)

LEASES, BLOCKS, LAYOUT = BINDING_LEASES, BINDING_BLOCKS, BINDING_LAYOUT
_CARRIED = [n for n, _ in BINDING_FIELDS]


# ---------------------------------------------------------------- pure SQL builders


def with_previous_sql(table: str, keys: list[str], extra: list[str]) -> str:
    """Bindings plus the previous binding of the same key (P of the timeline rule)."""
    cols = _CARRIED + extra
    lags = ", ".join(f"lag({c}) OVER w AS p_{c}" for c in cols)
    part = ", ".join(keys)
    return f"SELECT *, {lags} FROM {table} WINDOW w AS (PARTITION BY {part} ORDER BY start_ms)"


def choose_sql(probes: str, bindings: str, on: str, extra: list[str]) -> str:
    """ASOF-join probes (hit_id, t, …) to bindings and apply the ε rule of Timeline.choose:
    status none | boundary | ok, the chosen binding's columns c_*, and its quality."""
    cols = _CARRIED + extra
    carried = ", ".join(f"b.{c}, b.p_{c}" for c in cols)
    chosen = ", ".join(f"CASE WHEN use_prev THEN p_{c} ELSE {c} END AS c_{c}" for c in cols)
    return f"""
    WITH j AS (
        SELECT pr.*, {carried}
        FROM {probes} pr ASOF LEFT JOIN {bindings} b ON {on} AND pr.t + $eps >= b.start_ms
    ), d AS (
        SELECT *,
            CASE WHEN start_ms IS NULL OR end_ms <= t - $eps THEN 'none'
                 WHEN p_end_ms IS NOT NULL AND p_end_ms > t - $eps AND p_holder <> holder
                     THEN 'boundary'
                 ELSE 'ok' END AS status,
            coalesce(p_end_ms > t - $eps AND start_ms > t, false) AS use_prev
        FROM j
    ), c AS (SELECT *, {chosen} FROM d)
    SELECT *,
        CASE WHEN status <> 'ok' THEN NULL
             WHEN NOT (c_start_ms <= t AND t < c_end_ms) THEN 'skew'
             WHEN c_inferred AND t > c_confirmed_ms THEN 'inferred_tail'
             ELSE 'contained' END AS quality,
        CASE WHEN status = 'ok' THEN {{'kind': c_kind, 'ref': c_ref, 'source': c_source,
            'start_ms': c_start_ms,
            'end_ms': CASE WHEN c_end_ms >= {OPEN_END_MS} THEN NULL ELSE c_end_ms END,
            'detail': c_detail}} END AS ev
    FROM c
    """


def _conf(q: str) -> str:
    cases = " ".join(f"WHEN '{k}' THEN CAST({v!r} AS DOUBLE)" for k, v in CONFIDENCE.items())
    return f"(CASE {q} {cases} ELSE CAST(1.0 AS DOUBLE) END)"


def assemble_sql() -> str:
    """One RESOLVED_HITS row per hit from the stage results (mirrors NetworkResolver)."""
    r = rules
    return f"""
    WITH x AS (
        SELECT h.hit_id, h.t, h.cls, h.port, h.det_status, h.v6_fallback, h.det_ev,
            blk.status AS b_status, blk.quality AS bq, blk.ev AS b_ev,
            ls.status AS l_status, ls.quality AS lq, ls.ev AS l_ev, ls.c_holder AS holder,
            ls.c_detail AS l_detail, ls.stage
        FROM h LEFT JOIN blk USING (hit_id) LEFT JOIN ls USING (hit_id)
    ), y AS (
        SELECT *,
            -- which path the hit takes, and the evidence gathered before the lease stage
            CASE
                WHEN cls = 'invalid' THEN '{r.INVALID_IP}'
                WHEN cls = 'not_ours' THEN '{r.NOT_OURS}'
                WHEN cls = 'infra' THEN '{r.INFRA}'
                WHEN cls IN ('cgnat', 'det') AND port IS NULL THEN '{r.NO_PORT}'
                WHEN cls = 'det' AND det_status = 'none' THEN '{r.NO_RULE}'
                WHEN (cls = 'cgnat' OR det_status = 'overflow')
                    AND coalesce(b_status, 'none') = 'none' THEN '{r.NO_BLOCK}'
                WHEN (cls = 'cgnat' OR det_status = 'overflow') AND b_status = 'boundary'
                    THEN '{r.R_BOUNDARY}'
                WHEN cls = 'v6' AND coalesce(l_status, 'none') = 'none' THEN v6_fallback
                WHEN cls = 'v6' AND l_status = 'boundary' THEN '{r.R_BOUNDARY}'
                WHEN coalesce(l_status, 'none') = 'none' THEN '{r.NO_LEASE}'
                WHEN l_status = 'boundary' THEN '{r.R_BOUNDARY}'
                WHEN starts_with(holder, '{UNKNOWN_HOLDER_PREFIX}') THEN '{r.UNKNOWN_LINE}'
                ELSE NULL END AS fail,
            CASE
                WHEN cls = 'public' THEN '{r.VIA_RADIUS}'
                WHEN cls = 'v6' THEN '{r.VIA_PREFIX}'
                WHEN cls = 'det' AND det_status = 'rule' THEN '{r.VIA_RULE}'
                ELSE '{r.VIA_BLOCK}' END AS base,
            CASE
                WHEN cls = 'det' AND det_status = 'rule' THEN [det_ev]
                WHEN b_status = 'ok' THEN [b_ev]
                ELSE [] END AS prior
        FROM x
    )
    SELECT y.hit_id,
        CASE WHEN fail IS NOT NULL THEN 'unknown'
             WHEN li.fixed OR l_detail = '{DELEGATED_V6}' THEN 'household'
             ELSE 'line' END AS level,
        CASE WHEN fail IS NOT NULL THEN fail
             ELSE base
                || CASE WHEN bq IS NOT NULL AND bq <> 'contained' THEN '+' || bq ELSE '' END
                || CASE WHEN lq <> 'contained' AND lq IS DISTINCT FROM bq THEN '+' || lq
                        ELSE '' END
             END AS reason,
        CAST(CASE WHEN fail IS NOT NULL THEN 0.0
             ELSE round(CAST(1.0 AS DOUBLE) * {_conf("bq")} * {_conf("lq")}, 4) END AS FLOAT)
            AS confidence,
        CASE WHEN fail IS NULL THEN li.line_p END AS line_id,
        CASE WHEN fail IS NULL AND NOT (li.fixed OR l_detail = '{DELEGATED_V6}') THEN li.sub_p
            END AS subscriber_id,
        CASE WHEN fail IS NULL THEN li.hh_p END AS household_id,
        CASE WHEN fail IS NULL THEN li.acc_p END AS account_id,
        CAST(to_json(CASE
            WHEN fail IS NULL OR fail = '{r.UNKNOWN_LINE}' THEN list_append(prior, l_ev)
            WHEN fail IN ('{r.NO_LEASE}', '{r.R_BOUNDARY}') AND l_status IS NOT NULL THEN prior
            ELSE [] END) AS VARCHAR) AS evidence
    FROM y LEFT JOIN li ON li.holder = y.holder
    ORDER BY y.hit_id
    """


# ---------------------------------------------------------------- the adapter


class DuckDbBatchResolver:
    """BatchResolver over the bindings of a NetworkResolver (same books, same answers)."""

    def __init__(
        self, resolver: NetworkResolver, work_dir: Path, memory_limit: str = "4GB"
    ) -> None:
        self.resolver = resolver
        work_dir.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(
            config={"temp_directory": str(work_dir / "duckdb-tmp"), "memory_limit": memory_limit}
        )
        self._loaded = False

    # -------------------------------------------------------- binding tables

    def lease_table(self) -> pa.Table:
        rows: dict[str, list[Any]] = {f.name: [] for f in LEASES}
        for (ctx, addr), b in self.resolver.leases.all_bindings():
            for name, value in (
                ("ctx", ctx), ("addr", addr), ("start_ms", b.start_ms), ("end_ms", b.end_ms),
                ("confirmed_ms", b.confirmed_ms), ("inferred", b.inferred_end),
                ("holder", b.holder), ("kind", b.kind), ("ref", b.ref), ("source", b.source),
                ("detail", b.detail),
            ):  # fmt: skip
                rows[name].append(value)
        return pa.table(rows, schema=LEASES)

    def block_tables(self) -> tuple[pa.Table, pa.Table]:
        rows: dict[str, list[Any]] = {f.name: [] for f in BLOCKS}
        for (ip, lo), _hi, _step, b in self.resolver.blocks.all_bindings():
            vrf, _, inside = b.holder.rpartition("|")
            for name, value in (
                ("ip", ip), ("port_lo", lo), ("start_ms", b.start_ms), ("end_ms", b.end_ms),
                ("confirmed_ms", b.confirmed_ms), ("inferred", b.inferred_end),
                ("holder", b.holder), ("kind", b.kind), ("ref", b.ref), ("source", b.source),
                ("detail", b.detail), ("inside_vrf", vrf), ("inside_ip", inside),
            ):  # fmt: skip
                rows[name].append(value)
        cols: dict[str, list[Any]] = {n: [] for n in LAYOUT.names}
        for entry in self.resolver.blocks.layout():
            for name, item in zip(LAYOUT.names, entry, strict=True):
                cols[name].append(item)
        return pa.table(rows, schema=BLOCKS), pa.table(cols, schema=LAYOUT)

    def load(self, leases: pa.Table, blocks: pa.Table, layout: pa.Table) -> None:
        """Load binding tables (from the books, or directly from Parquet in benchmarks)."""
        con = self.con
        con.register("leases_in", leases)
        con.register("blocks_in", blocks)
        con.register("layout_in", layout)
        con.execute(
            "CREATE OR REPLACE TABLE leases AS "
            + with_previous_sql("leases_in", ["ctx", "addr"], [])
        )
        con.execute(
            "CREATE OR REPLACE TABLE blocks AS "
            + with_previous_sql("blocks_in", ["ip", "port_lo"], ["inside_vrf", "inside_ip"])
        )
        con.execute("CREATE OR REPLACE TABLE layout AS SELECT * FROM layout_in")
        for name in ("leases_in", "blocks_in", "layout_in"):
            con.unregister(name)
        self._loaded = True

    # -------------------------------------------------------- resolving

    def _classify(self, ips: list[str]) -> pa.Table:
        """Per distinct address: path class (and the IPv6 fallback reason)."""
        plan = self.resolver.plan
        cls: list[str] = []
        fallback: list[str | None] = []
        for ip in ips:
            try:
                pool = plan.pool_of(ip)
            except InvalidInput:
                cls.append("invalid")
                fallback.append(None)
                continue
            kind = pool.kind if pool is not None else None
            fb = None
            if ":" in ip:
                c = "v6"
                fb = (
                    rules.NOT_OURS
                    if pool is None
                    else (rules.INFRA if kind == INFRASTRUCTURE else rules.NO_LEASE)
                )
            elif pool is None:
                c = "not_ours"
            elif kind in (PUBLIC_FIXED, PUBLIC_MOBILE):
                c = "public"
            elif kind == CGNAT_OUTSIDE:
                c = "cgnat"
            elif kind == CGNAT_DETERMINISTIC:
                c = "det"
            else:
                c = "infra"
            cls.append(c)
            fallback.append(fb)
        return pa.table({"ip": ips, "cls": cls, "v6_fallback": fallback})

    def _v6_probes(self, ips: list[str]) -> pa.Table:
        lengths = sorted(self.resolver.leases.prefix_lengths, reverse=True)
        out_ip, out_len, out_addr = [], [], []
        for ip in ips:
            for plen in lengths:
                out_ip.append(ip)
                out_len.append(plen)
                out_addr.append(prefix_key(ip, plen))
        return pa.table({"ip": out_ip, "plen": out_len, "addr": out_addr})

    def _deterministic(self, hits: pa.Table) -> pa.Table:
        """Reverse RFC 7422 mapping for hits on deterministic pools (pure arithmetic)."""
        nat = self.resolver.nat
        ids: list[int] = []
        status: list[str] = []
        vrf: list[str | None] = []
        inside: list[str | None] = []
        evs: list[dict[str, Any] | None] = []
        for hid, ip, port, t in zip(
            *(hits.column(c).to_pylist() for c in ("hit_id", "ip", "port", "t")), strict=True
        ):
            if port is None:
                continue
            found = nat.reverse(ip, port, t)
            ids.append(hid)
            if found is None or isinstance(found, str):
                status.append("none" if found is None else "overflow")
                vrf.append(None)
                inside.append(None)
                evs.append(None)
                continue
            rule, m = found
            status.append("rule")
            vrf.append(rule.inside_vrf)
            inside.append(m.inside_ip)
            evs.append(
                {
                    "kind": "nat_rule",
                    "ref": rule.version_ref,
                    "source": rule.nat_instance,
                    "start_ms": rule.valid_from_ms,
                    "end_ms": rule.valid_to_ms,
                    "detail": f"ports {m.port_lo}-{m.port_hi}",
                }
            )
        ev_type = pa.struct(
            [("kind", pa.string()), ("ref", pa.string()), ("source", pa.string()),
             ("start_ms", pa.int64()), ("end_ms", pa.int64()), ("detail", pa.string())]
        )  # fmt: skip
        return pa.table(
            {
                "hit_id": pa.array(ids, pa.int64()),
                "det_status": pa.array(status, pa.string()),
                "det_vrf": pa.array(vrf, pa.string()),
                "det_inside": pa.array(inside, pa.string()),
                "det_ev": pa.array(evs, ev_type),
            }
        )

    def _line_ids(self) -> pa.Table:
        holders = [
            h
            for (h,) in self.con.execute("SELECT DISTINCT holder FROM leases").fetchall()
            if not h.startswith(UNKNOWN_HOLDER_PREFIX)
        ]
        lines = self.resolver.directory.lines
        p = self.resolver.pseudonymizer.pseudonym
        rows: dict[str, list[Any]] = {
            k: [] for k in ("holder", "line_p", "sub_p", "hh_p", "acc_p", "fixed")
        }
        for h in holders:
            line = lines[h]
            rows["holder"].append(h)
            rows["line_p"].append(p(IdKind.LINE, line.line_id))
            rows["sub_p"].append(
                p(IdKind.SUBSCRIBER, line.subscriber_id) if line.subscriber_id else None
            )
            rows["hh_p"].append(p(IdKind.HOUSEHOLD, line.household_id))
            rows["acc_p"].append(p(IdKind.ACCOUNT, line.account_id))
            rows["fixed"].append(line.kind == FIXED)
        return pa.table(rows)

    def resolve_hits(self, hits: pa.Table) -> pa.Table:
        """RESOLVED_HITS for a HITS table (one row per hit, ordered by hit_id)."""
        hits = require_columns(hits, HITS, "web/hits")
        if not self._loaded:
            self.load(self.lease_table(), *self.block_tables())
        con = self.con
        eps = {"eps": self.resolver.eps_ms}
        base = hits.select(["hit_id", "ts_ms", "src_ip", "src_port"]).rename_columns(
            ["hit_id", "t", "ip", "port"]
        )
        # a missing address is an invalid one (never dropped: one answer per hit)
        base = base.set_column(2, "ip", pc.fill_null(base.column("ip"), ""))
        con.register("hits_in", base)
        ips = [ip for (ip,) in con.execute("SELECT DISTINCT ip FROM hits_in").fetchall()]
        ipc = self._classify(ips)
        con.register("ipc", ipc)
        v6 = [ip for ip, c in zip(ips, ipc.column("cls").to_pylist(), strict=True) if c == "v6"]
        con.register("v6p", self._v6_probes(v6))
        det_hits = con.sql(
            "SELECT hits_in.* FROM hits_in JOIN ipc USING (ip) WHERE cls = 'det'"
        ).to_arrow_table()
        con.register("det", self._deterministic(det_hits))
        con.register("li", self._line_ids())
        con.execute(
            """CREATE OR REPLACE TEMP TABLE h AS
            SELECT hits_in.hit_id, hits_in.t, hits_in.ip, hits_in.port, ipc.cls, ipc.v6_fallback,
                   det.det_status, det.det_vrf, det.det_inside, det.det_ev
            FROM hits_in JOIN ipc USING (ip) LEFT JOIN det USING (hit_id)"""
        )
        # stage 1: port blocks (layout by ASOF on the port, then the block timeline)
        con.execute(
            """CREATE OR REPLACE TEMP TABLE bprobe AS
            WITH q AS (
                SELECT hit_id, t, ip, port FROM h
                WHERE port IS NOT NULL AND (cls = 'cgnat' OR det_status = 'overflow')
            )
            SELECT q.hit_id, q.t, q.ip,
                CASE WHEN l.port_lo IS NOT NULL AND q.port <= l.port_hi
                          AND (q.port - l.port_lo) % l.step = 0 THEN l.port_lo END AS blk_lo
            FROM q ASOF LEFT JOIN layout l ON q.ip = l.ip AND q.port >= l.port_lo"""
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE blk AS "
            + choose_sql(
                "bprobe",
                "blocks",
                "pr.ip = b.ip AND pr.blk_lo = b.port_lo",
                ["inside_vrf", "inside_ip"],
            ),
            eps,
        )
        # stage 2: leases (direct public address, deterministic inside, block inside, v6 prefixes)
        con.execute(
            """CREATE OR REPLACE TEMP TABLE lprobe AS
            SELECT hit_id, t, '' AS ctx, ip AS addr, 0 AS plen, 'public' AS stage
                FROM h WHERE cls = 'public'
            UNION ALL SELECT hit_id, t, det_vrf, det_inside, 0, 'det'
                FROM h WHERE det_status = 'rule'
            UNION ALL SELECT hit_id, t, c_inside_vrf, c_inside_ip, 0, 'block'
                FROM blk WHERE status = 'ok'
            UNION ALL SELECT h.hit_id, h.t, '', v6p.addr, v6p.plen, 'v6'
                FROM h JOIN v6p USING (ip) WHERE h.cls = 'v6'"""
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE ls_all AS "
            + choose_sql("lprobe", "leases", "pr.ctx = b.ctx AND pr.addr = b.addr", []),
            eps,
        )
        # IPv6: the longest prefix with a binding near T decides
        con.execute(
            """CREATE OR REPLACE TEMP TABLE ls AS SELECT * FROM ls_all
            QUALIFY row_number() OVER (
                PARTITION BY hit_id ORDER BY (status = 'none'), plen DESC) = 1"""
        )
        out = con.sql(assemble_sql()).to_arrow_table()
        for name in ("hits_in", "ipc", "v6p", "det", "li"):
            con.unregister(name)
        return require_columns(out, RESOLVED_HITS, "resolved_hits")
