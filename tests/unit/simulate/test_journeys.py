"""Latent intents drive journeys and web behaviour; outcomes follow the journeys."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from netcx.simulate import catalogue as cat
from netcx.simulate.world import WorldFolder

INTENTS = {*cat.INTENTS, "none"}


@pytest.fixture(scope="module")
def db(tiny_world: WorldFolder) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    for name in (
        "web/hits",
        "truth/hits",
        "truth/journeys",
        "crm/lines",
        "crm/households",
        "outcomes/churn",
        "outcomes/upgrades",
        "outcomes/nps",
        "outcomes/care_contacts",
        "outcomes/outages",
        "truth/sessions",
    ):
        con.register(name.replace("/", "_"), tiny_world.table(name))
    con.execute("create table h as select * from web_hits join truth_hits using (hit_id)")
    yield con
    con.close()


def rows(db: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    return db.execute(sql).fetchall()


def test_every_intent_has_journeys_with_its_pages_in_german_and_english(
    db: duckdb.DuckDBPyConnection,
) -> None:
    intents = {i for (i,) in rows(db, "select distinct intent from truth_journeys")}
    assert intents == set(cat.INTENTS)
    assert {i for (i,) in rows(db, "select distinct true_intent from h")} == INTENTS
    for intent, pages in cat.PAGES.items():
        paths = [p for p, _ in pages]
        seen = rows(
            db,
            f"""select count(*) filter (where url not like '%/en/%'),
                   count(*) filter (where url like '%/en/%')
                from h where true_intent = '{intent}'
                and regexp_extract(url, '^[a-z]+://[^/]+(/[^?]*)', 1) in {tuple(paths)}""",
        )
        german, english = seen[0]
        assert german > 0, intent
        assert english > 0 or intent == "churn_research", intent
    paths = {
        p for (p,) in rows(db, "select distinct regexp_extract(url, '//[^/]+(/[^?]*)', 1) from h")
    }
    for must in (
        "/kuendigen",
        "/rufnummernmitnahme",
        "/tarife/vergleich",
        "/roaming",
        "/glasfaser/verfuegbarkeit",
        "/en/fibre",
        "/stoerung",
        "/en/network-status",
        "/hilfe/rechnung",
        "/geraete/esim",
        "/5g-check",
        "/",
        "/suche",
        "/login",
    ):
        assert must in paths, must


def test_searches_logins_apps_and_visitors(db: duckdb.DuckDBPyConnection) -> None:
    assert (
        rows(
            db,
            "select count(*) from h where event_type = 'search' and search_term is "
            "not null and url like '%/suche?q=%'",
        )[0][0]
        > 20
    )
    # Logins: a minority of journeys, on the journey's last session, by the right person.
    (share,) = rows(
        db,
        """select avg(has_login::int) from (select journey_id,
        bool_or(event_type = 'login') has_login from h where journey_id is not null group by 1)""",
    )[0]
    assert 0.1 < share < 0.4
    (late,) = rows(
        db,
        """select avg((l.ts_ms >= j.start_ms + (j.end_ms - j.start_ms) / 2)::int)
        from h l join truth_journeys j using (journey_id) where l.event_type = 'login'""",
    )[0]
    assert late > 0.8
    assert (
        rows(
            db,
            "select count(*) from h where event_type = 'login' and "
            "login_subscriber_id is distinct from true_subscriber_id",
        )[0][0]
        == 0
    )
    assert (
        rows(
            db,
            "select count(*) from h where event_type <> 'login' and "
            "login_subscriber_id is not null",
        )[0][0]
        == 0
    )
    assert (
        rows(
            db,
            "select count(*) from h where channel = 'app' and "
            "visitor_id like 'app-%' and event_type in ('screen', 'search', 'login')",
        )[0][0]
        > 0
    )
    (several,) = rows(
        db,
        """select count(*) from (select true_household_id from h
        where true_household_id is not null group by 1 having count(distinct visitor_id) >= 3)""",
    )[0]
    assert several > 10
    # Cookie resets: one person, one device kind, two cookie ids one after the other.
    (resets,) = rows(
        db,
        """select count(*) from (select true_subscriber_id, user_agent from h
        where true_subscriber_id is not null and channel = 'web'
        group by all having count(distinct visitor_id) >= 2)""",
    )[0]
    assert resets > 0


def test_churn_research_precedes_churn_by_days_to_weeks(modest_world: WorldFolder) -> None:
    db = duckdb.connect()
    db.register("truth_journeys", modest_world.table("truth/journeys"))
    db.register("outcomes_churn", modest_world.table("outcomes/churn"))
    db.register("crm_lines", modest_world.table("crm/lines"))
    median, share_gt_30d, n = rows(
        db,
        """select median((c.churn_ms - j.start_ms) / 86400000.0),
               avg((c.churn_ms - j.start_ms > 30 * 86400000::bigint)::int), count(*)
        from truth_journeys j join outcomes_churn c using (line_id)
        where j.intent = 'churn_research' and j.outcome_ms is not null""",
    )[0]
    assert n >= 30
    # median 30 days, cut by the start of a four-week web window
    assert 18 <= median <= 32
    # a share of churners researches longer ahead than a 30-day horizon
    assert 0.1 <= share_gt_30d <= 0.6
    assert (
        rows(
            db,
            """select count(*) from truth_journeys where intent = 'churn_research'
        and outcome_ms is not null and outcome_ms <= end_ms""",
        )[0][0]
        == 0
    )
    # most churners research where the web window shows it (90 % do, cut by the window) ...
    researched, churners = rows(
        db,
        """select sum((line_id in (select line_id from truth_journeys
                    where intent = 'churn_research'))::int), count(*) from outcomes_churn""",
    )[0]
    assert churners >= 100
    assert 0.65 <= researched / churners <= 0.95
    # ... and non-churners rarely do: fewer stayers research than churners, ~1 % of lines
    stayers, n_lines = rows(
        db,
        """select count(distinct line_id), (select count(*) from crm_lines)
        from truth_journeys where intent = 'churn_research' and outcome_ms is null""",
    )[0]
    assert 0 < stayers < researched
    assert stayers / n_lines < 0.02


def test_churn_follows_crm_risk_factors(modest_world: WorldFolder) -> None:
    db = duckdb.connect()
    db.register("outcomes_churn", modest_world.table("outcomes/churn"))
    db.register("crm_lines", modest_world.table("crm/lines"))
    start_ms = modest_world.meta["start_ms"]

    def churn_rate(condition: str) -> tuple[float, float]:
        got = rows(
            db,
            f"""with l as (select *, monthly_charge_eur > 1.05 * min(monthly_charge_eur)
                  over (partition by tariff) overpays from crm_lines)
            select avg((line_id in (select line_id from outcomes_churn))::int)
                     filter (where {condition}),
                   avg((line_id in (select line_id from outcomes_churn))::int)
                     filter (where not ({condition}))
            from l""",
        )[0]
        return float(got[0]), float(got[1])

    out_of_contract, in_contract = churn_rate(f"contract_end_ms < {start_ms}")
    assert out_of_contract > 2.5 * in_contract
    overpaying, list_price = churn_rate("overpays")
    assert overpaying > 1.4 * list_price


def test_upgrades_near_contract_end_outages_in_area_and_care_after_research(
    db: duckdb.DuckDBPyConnection,
) -> None:
    (near,) = rows(
        db,
        """select avg((abs(j.start_ms - l.contract_end_ms) < 70 * 86400000::bigint)::int)
        from truth_journeys j join crm_lines l using (line_id) where j.intent = 'upgrade'""",
    )[0]
    assert near > 0.95
    assert rows(db, "select count(*) from outcomes_upgrades")[0][0] > 0
    inside, total = rows(
        db,
        """select count(*) filter (where exists (select 1
            from outcomes_outages o where o.area_id = l.area_id
            and j.start_ms between o.start_ms and o.end_ms)), count(*)
        from truth_journeys j join crm_lines l using (line_id) where j.intent = 'outage'""",
    )[0]
    assert total > 0 and inside >= 0.9 * total  # offline lines check on their next connection
    fibre = rows(
        db,
        "select count(*), count(line_id) from truth_journeys where intent = 'fibre_availability'",
    )[0]
    assert fibre[0] > fibre[1]  # households without a fixed line ask too
    reasons = {r for (r,) in rows(db, "select distinct reason from outcomes_care_contacts")}
    assert {"cancel", "complaint", "outage", "billing"} <= reasons
    assert rows(db, "select count(*) from outcomes_care_contacts where repeat_within_7d")[0][0] > 0
    assert rows(db, "select count(*) from outcomes_care_contacts where asked_again")[0][0] > 0
    scores = rows(db, "select min(score), max(score), count(*) from outcomes_nps")[0]
    assert 0 <= scores[0] < 7 and 9 <= scores[1] <= 10 and scores[2] > 20
