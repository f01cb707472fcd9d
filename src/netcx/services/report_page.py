"""The report as one self-contained HTML page: Vega-Lite charts rendered to inline SVG, no scripts.

Used by `netcx report` (report.html) and by the live `/dashboard` page, so both show the same
figures. Charts are built with altair and rendered with vl-convert, so the page needs no network.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

import altair as alt
import vl_convert as vlc

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
header{background:#12355b;color:#fff;padding:18px 32px}
header h1{margin:0 0 4px;font-size:22px} header p{margin:0;opacity:.85;font-size:13px}
main{padding:20px 32px;max-width:1180px}
section{background:#fff;border-radius:8px;padding:16px 20px;margin:0 0 18px;
box-shadow:0 1px 2px rgba(0,0,0,.08)}
h2{font-size:18px;margin:0 0 10px} h3{font-size:15px;margin:14px 0 6px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(250px,1fr));gap:12px}
.card{border:1px solid #dde2ea;border-radius:8px;padding:12px}
.card .v{font-size:26px;font-weight:600} .card .ci{color:#55607a;font-size:13px}
.verdict{font-size:13px;color:#334;margin:6px 0} .warn{color:#a33}
.charts{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
figure{margin:0} figcaption{font-size:12px;color:#55607a;max-width:520px}
table{border-collapse:collapse;font-size:13px} td,th{padding:4px 8px;border-bottom:1px solid #eee;
text-align:left} .method p,.method li{font-size:14px;line-height:1.5}
"""


def render_report_html(
    report: Mapping[str, Any], *, refresh_s: int | None = None, source: str | None = None
) -> str:
    """The whole page for `report` (as written to report.json)."""
    measures = report.get("measures", {})
    head_refresh = f'<meta http-equiv="refresh" content="{refresh_s}">' if refresh_s else ""
    world = report.get("world", {})
    subtitle = (
        f"Run {html.escape(str(report.get('run_dir', '')))} · world "
        f"{html.escape(str(world.get('path', '')))} · generated "
        f"{html.escape(str(report.get('generated_at', '')))}"
    )
    if source:
        subtitle += f" · source: {html.escape(source)}"
    body = "".join(
        [
            _cards(report),
            _section(
                "1 · Negative experiences that start before login",
                _verdict_line(_neg_verdict(measures)),
                [_funnel_chart(report), _negative_chart(measures)],
            ),
            _section(
                "2 · Churners who researched leaving before they logged in",
                _verdict_line(_churn_signal_verdict(measures)),
                [_lead_time_chart(measures)],
            ),
            _section(
                "3 · NPS, churn and upgrades: recognised and supported vs holdout",
                _effect_verdicts(measures),
                [
                    _forest_chart(measures, "nps_uplift", "NPS uplift (points)", 1.0),
                    _forest_chart(
                        measures, "churn_difference", "Churn rate difference (pp)", 100.0
                    ),
                ],
            ),
            _section(
                "4 · Friction removed across channels",
                _friction_verdicts(measures),
                [_friction_chart(measures)],
            ),
            _methodology(report),
            _extra_figures(report),
        ]
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"{head_refresh}<title>netcx — CX measurement report</title><style>{_CSS}</style></head>"
        f"<body><header><h1>netcx — customer-experience measurement</h1><p>{subtitle}</p>"
        f"</header><main>{body}</main></body></html>"
    )


# ------------------------------------------------------------------ helpers


def _num(x: Any) -> float:
    return float(x) if isinstance(x, int | float) else math.nan


def _pct(x: Any) -> str:
    v = _num(x)
    return "n/a" if math.isnan(v) else f"{100 * v:.1f} %"


def _ci_pct(ci: Any) -> str:
    if not isinstance(ci, list) or len(ci) != 2 or None in ci:
        return "95 % CI n/a"
    return f"95 % CI {100 * ci[0]:.1f}–{100 * ci[1]:.1f} %"


def _card(title: str, value: str, ci: str, note: str = "") -> str:
    return (
        f"<div class='card'><div>{html.escape(title)}</div>"
        f"<div class='v'>{html.escape(value)}</div>"
        f"<div class='ci'>{html.escape(ci)}</div>"
        + (f"<div class='verdict'>{html.escape(note)}</div>" if note else "")
        + "</div>"
    )


def _cards(report: Mapping[str, Any]) -> str:
    m = report.get("measures", {})
    neg = m.get("negative_experiences_before_login_share", {})
    sig = m.get("churners_with_early_research_signal_share", {})
    nps = m.get("nps_uplift", {})
    fr = m.get("friction", {})
    nps_v = _num(nps.get("value"))
    ci = nps.get("ci95") or [None, None]
    nps_ci = f"95 % CI {ci[0]:+.1f} to {ci[1]:+.1f} points" if None not in ci else "95 % CI n/a"
    truth = nps.get("true_effect")
    median = _num(sig.get("lead_time_days_median"))
    return (
        "<section><h2>Summary</h2><div class='cards'>"
        + "".join(
            [
                _card(
                    "Negative experiences whose journey began before login",
                    _pct(neg.get("value")),
                    _ci_pct(neg.get("ci95")),
                    f"n = {neg.get('n', 0)} stitched experiences; "
                    f"{_pct(neg.get('journey_without_login', {}).get('value'))} never logged in",
                ),
                _card(
                    "Churners with an early research signal",
                    _pct(sig.get("value")),
                    _ci_pct(sig.get("ci95")),
                    "median lead time " + ("n/a" if math.isnan(median) else f"{median:.1f} days"),
                ),
                _card(
                    "NPS uplift, treated vs holdout",
                    "n/a" if math.isnan(nps_v) else f"{nps_v:+.1f} points",
                    nps_ci,
                    ""
                    if truth is None
                    else f"configured true effect of this simulated world: {truth:+.1f} "
                    "(expected per supported answer)",
                ),
                _card(
                    "Repeat contacts within 7 days",
                    f"{_pct(fr.get('repeat_contact_rate_treated'))} vs "
                    f"{_pct(fr.get('repeat_contact_rate_holdout'))}",
                    "treated vs holdout (share of accounts)",
                ),
            ]
        )
        + "</div></section>"
    )


def _section(title: str, text: str, charts: list[str]) -> str:
    return (
        f"<section><h2>{html.escape(title)}</h2>{text}"
        f"<div class='charts'>{''.join(c for c in charts if c)}</div></section>"
    )


def _verdict_line(text: str) -> str:
    return f"<p class='verdict'>{html.escape(text)}</p>"


def _data(rows: list[dict[str, Any]]) -> alt.Data:
    return alt.Data(values=rows)  # type: ignore[no-untyped-call]


def _svg(chart: alt.TopLevelMixin, caption: str) -> str:
    svg = vlc.vegalite_to_svg(chart.to_dict())
    return f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _empty(caption: str) -> str:
    return f"<figure><p class='verdict'>{html.escape(caption)}: no data in this run.</p></figure>"


# ------------------------------------------------------------------ charts


def _funnel_chart(report: Mapping[str, Any]) -> str:
    rows = [r for r in report.get("funnel", []) if isinstance(r.get("count"), int)]
    if not rows:
        return _empty("Recognition funnel")
    order = [r["stage"] for r in rows]
    chart = (
        alt.Chart(_data(rows))
        .mark_bar(color="#2d6cdf")
        .encode(
            y=alt.Y("stage:N", sort=order, title=None, axis=alt.Axis(labelLimit=260)),
            x=alt.X("count:Q", title="count"),
            tooltip=["stage:N", "count:Q"],
        )
        .properties(width=300, height=22 * len(rows))
    )
    labels = chart.mark_text(align="left", dx=3, fontSize=11).encode(text="count:Q")
    return _svg(chart + labels, "Recognition funnel: from web/app hits to experiences shown.")


def _interval_rows(rows: list[Mapping[str, Any]], key: str) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        ci = r.get("ci95") or [None, None]
        if r.get("value") is None or None in ci:
            continue
        out.append(
            {
                "group": f"{key}: {r[key]}",
                "value": r["value"],
                "low": ci[0],
                "high": ci[1],
                "n": r.get("n", 0),
            }
        )
    return out


def _negative_chart(measures: Mapping[str, Any]) -> str:
    neg = measures.get("negative_experiences_before_login_share", {})
    rows = (
        _interval_rows(neg.get("by_intent", []), "intent")
        + _interval_rows(neg.get("by_channel", []), "channel")
        + _interval_rows(neg.get("by_kind", []), "kind")
    )
    if not rows:
        return _empty("Share started before login")
    base = alt.Chart(_data(rows)).encode(
        y=alt.Y("group:N", title=None, sort=None, axis=alt.Axis(labelLimit=260))
    )
    bars = base.mark_bar(color="#7aa6f0").encode(
        x=alt.X(
            "value:Q",
            title="share started before login",
            axis=alt.Axis(format="%"),
            scale=alt.Scale(domain=[0, 1]),
        ),
        tooltip=["group:N", "value:Q", "low:Q", "high:Q", "n:Q"],
    )
    errors = base.mark_rule(color="#12355b").encode(x="low:Q", x2="high:Q")
    return _svg(
        (bars + errors).properties(width=320, height=18 * len(rows)),
        "Share of negative experiences whose journey began anonymously, by first-touch intent, "
        "channel and kind of experience (bars: estimate; lines: 95 % CI).",
    )


def _lead_time_chart(measures: Mapping[str, Any]) -> str:
    sig = measures.get("churners_with_early_research_signal_share", {})
    rows = sig.get("lead_time_histogram") or []
    if not rows:
        return _empty("Lead time")
    bars = (
        alt.Chart(_data(rows))
        .mark_bar(color="#e07b39")
        .encode(
            x=alt.X(
                "day:Q",
                title="days from first pre-login research signal to churn",
                bin=alt.Bin(step=2),
            ),
            y=alt.Y("sum(churners):Q", title="churners"),
        )
    )
    marks = (
        alt.Chart(_data([{"d": 7}, {"d": 14}, {"d": 30}]))
        .mark_rule(strokeDash=[4, 3], color="#555")
        .encode(x="d:Q")
    )
    return _svg(
        (bars + marks).properties(width=420, height=200),
        "Lead-time histogram: how many days before churning the research began "
        "(dashed: 7, 14 and 30 days).",
    )


def _forest_chart(measures: Mapping[str, Any], key: str, title: str, scale: float) -> str:
    block = measures.get(key, {})
    rows: list[dict[str, Any]] = []
    for label, r in [("all decided accounts", block)] + [
        (str(e.get("experience")), e) for e in block.get("by_experience", [])
    ]:
        ci = r.get("ci95") or [None, None]
        if r.get("value") is None or None in ci:
            continue
        rows.append(
            {
                "row": label,
                "value": r["value"] * scale,
                "low": ci[0] * scale,
                "high": ci[1] * scale,
                "n": f"{r.get('n_treated', 0)} vs {r.get('n_control', 0)}",
            }
        )
    if not rows:
        return _empty(title)
    base = alt.Chart(_data(rows)).encode(
        y=alt.Y("row:N", sort=None, title=None, axis=alt.Axis(labelLimit=220))
    )
    layers = [
        base.mark_rule(strokeWidth=2, color="#12355b").encode(
            x=alt.X("low:Q", title=title), x2="high:Q"
        ),
        base.mark_point(filled=True, size=70, color="#12355b").encode(
            x="value:Q", tooltip=["row:N", "value:Q", "low:Q", "high:Q", "n:N"]
        ),
        alt.Chart(_data([{"zero": 0}])).mark_rule(color="#999").encode(x="zero:Q"),
    ]
    truth = block.get("true_effect")
    if key == "nps_uplift" and isinstance(truth, int | float):
        layers.append(
            alt.Chart(_data([{"truth": truth}]))
            .mark_rule(color="#2a9d4b", strokeDash=[6, 3])
            .encode(x="truth:Q")
        )
    caption = f"Forest plot — {title}: dot = estimate, line = 95 % CI, grey = no effect"
    if len(layers) == 4:
        caption += ", green dashed = configured true effect of the simulated world"
    return _svg(alt.layer(*layers).properties(width=380, height=28 * len(rows) + 10), caption)


def _friction_chart(measures: Mapping[str, Any]) -> str:
    rows = []
    for metric in measures.get("friction", {}).get("metrics", []):
        if metric.get("unit") != "share of accounts":
            continue
        for arm in ("treated", "holdout"):
            ci = metric.get(arm, {}).get("ci95") or [None, None]
            value = metric.get(arm, {}).get("value")
            if value is None or None in ci:
                continue
            rows.append(
                {"metric": metric["label"], "arm": arm, "value": value, "low": ci[0], "high": ci[1]}
            )
    if not rows:
        return _empty("Friction")
    base = alt.Chart(_data(rows)).encode(
        y=alt.Y("arm:N", title=None), color=alt.Color("arm:N", legend=alt.Legend(title=None))
    )
    layered = alt.layer(
        base.mark_bar().encode(
            x=alt.X("value:Q", title="share of accounts", axis=alt.Axis(format="%"))
        ),
        base.mark_rule(color="#222").encode(x="low:Q", x2="high:Q"),
    ).properties(width=360, height=50)
    chart = layered.facet(
        row=alt.Row(
            "metric:N",
            title=None,
            header=alt.Header(labelAngle=0, labelAlign="left", labelLimit=400),
        )
    )
    return _svg(chart, "Friction, treated vs holdout (bars: share of accounts; lines: 95 % CI).")


# ------------------------------------------------------------------ text


def _neg_verdict(measures: Mapping[str, Any]) -> str:
    neg = measures.get("negative_experiences_before_login_share", {})
    cover = neg.get("with_digital_journey", {})
    hidden = neg.get("journey_without_login", {})
    return (
        f"Of {neg.get('experiences_total', 0)} negative experiences, {_pct(cover.get('value'))} "
        f"could be stitched to a web/app journey in the {neg.get('lookback_days', '?')} days "
        f"before; of those, {_pct(neg.get('value'))} ({_ci_pct(neg.get('ci95'))}) began "
        "anonymously — before the customer logged in — and in "
        f"{_pct(hidden.get('value'))} ({_ci_pct(hidden.get('ci95'))}) the customer never logged "
        "in before the experience: a journey only network identity could see."
    )


def _churn_signal_verdict(measures: Mapping[str, Any]) -> str:
    sig = measures.get("churners_with_early_research_signal_share", {})
    base = sig.get("base_rate_non_churners", {})
    lift = sig.get("lift", {})
    lift_v = _num(lift.get("value"))
    ci = lift.get("ci95") or [None, None]
    lift_text = (
        "n/a"
        if math.isnan(lift_v) or None in ci
        else f"{lift_v:.1f}× (95 % CI {ci[0]:.1f}–{ci[1]:.1f})"
    )
    shares = sig.get("lead_time", {}).get("share_at_least_days", {})
    return (
        f"{_pct(sig.get('value'))} of {sig.get('n', 0)} churners ({_ci_pct(sig.get('ci95'))}) "
        f"researched leaving before login, against {_pct(base.get('value'))} of non-churners: "
        f"lift {lift_text}. Lead time ≥ 7 / 14 / 30 days: "
        + " / ".join(_pct(shares.get(d, {}).get("value")) for d in ("7", "14", "30"))
        + "."
    )


def _effect_verdicts(measures: Mapping[str, Any]) -> str:
    exp = measures.get("experiment", {})
    parts = [
        f"<p class='verdict{' warn' if (exp.get('srm') or {}).get('mismatch') else ''}'>"
        f"{html.escape(str(exp.get('srm_verdict', '')))} Units: "
        f"{exp.get('treated_accounts', 0)} treated and {exp.get('holdout_accounts', 0)} holdout "
        f"accounts ({html.escape(str(exp.get('definition', '')))}).</p>"
    ]
    for key in ("nps_uplift", "churn_difference", "upgrade_difference"):
        verdict = measures.get(key, {}).get("verdict")
        if verdict:
            parts.append(_verdict_line(verdict))
    cuped = measures.get("nps_uplift", {}).get("cuped", {})
    reduction = _num(cuped.get("variance_reduction"))
    if not math.isnan(reduction):
        adj = cuped.get("adjusted", {})
        ci = adj.get("ci95") or [None, None]
        adj_text = "" if None in ci else f" adjusted 95 % CI {ci[0]:+.1f} to {ci[1]:+.1f} points"
        parts.append(
            _verdict_line(
                f"CUPED with pre-period covariates removed {100 * reduction:.1f} % of the NPS "
                f"variance;{adj_text}."
            )
        )
    rows = measures.get("nps_uplift", {}).get("by_experience", [])
    if rows:
        parts.append(
            "<h3>By experience (Holm-corrected)</h3><table><tr><th>experience</th>"
            "<th>statement</th><th>split check</th></tr>"
        )
        parts += [
            f"<tr><td>{html.escape(str(r['experience']))}</td>"
            f"<td>{html.escape(str(r['verdict']))}</td><td>{_srm_cell(r.get('srm') or {})}</td>"
            "</tr>"
            for r in rows
        ]
        parts.append("</table>")
    return "".join(parts)


def _srm_cell(srm: Mapping[str, Any]) -> str:
    p = _num(srm.get("p_value"))
    if math.isnan(p):
        return "n/a"
    if srm.get("mismatch"):
        return f"<span class='warn'>sample-ratio mismatch (p = {p:.2g})</span>"
    return f"matches design (p = {p:.2g})"


def _friction_verdicts(measures: Mapping[str, Any]) -> str:
    return "".join(
        _verdict_line(m["verdict"]) for m in measures.get("friction", {}).get("metrics", [])
    )


def _methodology(report: Mapping[str, Any]) -> str:
    s = report.get("settings", {})
    lookback = s.get("lookback_days", 14)
    reasons = ", ".join(s.get("negative_contact_reasons", []))
    research = ", ".join(s.get("research_intents", []))
    return f"""<section class='method'><h2>How to read this report (methodology)</h2>
<p><b>Recognised before login.</b> A visit is recognised when netcx matched the visitor's
network address (and port, for shared addresses) to one of our lines or households — without the
customer logging in. Only visits whose owner consented to analytics are counted.</p>
<p><b>1 · Negative experiences.</b> We count care contacts for {html.escape(reasons)}, repeat
contacts within 7 days, accounts hit by an outage, NPS detractors (0–6) and high-intent visits that
ended without login or purchase. For each we look back {lookback} days for that customer's
web/app visits. The share shown is how many of these journeys <i>began</i> with an anonymous
visit, before any login.</p>
<p><b>2 · Early research signals.</b> A churner has a signal when, before churning and before
logging in, they visited pages netcx classed as {html.escape(research)}. We compare with the same
rate among customers who did not churn (the <i>lift</i>), and measure the days between the first
signal and the churn (the <i>lead time</i>) — the time the business had to act.</p>
<p><b>3 · Uplift.</b> Each billing account is assigned once, at random, to a small holdout that
sees nothing from netcx. Because the assignment is random, the holdout shows what would have
happened without netcx; the difference between the groups is the effect. We use each account's
first survey answer after netcx first acted, so the NPS uplift is the average effect on the
customers in the experiment who answered a survey.</p>
<ul>
<li><b>95 % confidence interval (CI):</b> the range of effects compatible with the data. If it
includes zero, the result is <i>not significant</i>: the data cannot rule out "no effect".</li>
<li><b>NPS interval:</b> adjusted Wald (Rocks 2016), which stays accurate for small groups.
<b>Rates</b> (churn, upgrades, repeat contacts) use Newcombe's score interval.</li>
<li><b>MDE (minimum detectable effect):</b> the smallest true effect these group sizes would
detect 80 % of the time. A non-significant result with a large MDE means "too little data",
not "no effect".</li>
<li><b>CUPED:</b> uses what we knew before netcx acted (earlier survey answers, earlier contacts,
tenure, lines, spend) to remove noise; the effect estimate stays fair, the interval narrows.</li>
<li><b>Sample-ratio check:</b> if the groups' sizes differ from the design by more than chance
(p &lt; 0.001) the assignment is broken and comparisons are not to be trusted.</li>
<li><b>Holm correction:</b> when several experiences are tested at once, some would look
significant by luck; Holm's method raises the bar to keep the chance of any false alarm at 5 %.</li>
</ul>
<p><b>4 · Friction.</b> Per account, after netcx first acted: did the customer need a repeat
contact within 7 days, have to give information again, switch from web/app to a care channel
within 7 days, and how many care contacts did it take. Treated vs holdout, each with its 95 % CI.
</p></section>"""


def _extra_figures(report: Mapping[str, Any]) -> str:
    rows = []
    for section in ("resolution", "intents", "churn"):
        for k, v in (report.get(section) or {}).items():
            if isinstance(v, int | float):
                rows.append(f"<tr><td>{section}.{html.escape(k)}</td><td>{v:.4g}</td></tr>")
    if not rows:
        return ""
    return (
        "<section><h2>Pipeline accuracy against ground truth</h2><table>"
        + "".join(rows)
        + "</table></section>"
    )
