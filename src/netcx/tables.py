"""Column contracts (Arrow schemas) of the tables that cross stage boundaries.

A world folder (written by `netcx simulate`, or exported by an operator) holds the *input*
tables; the pipeline produces the *derived* tables. Every reader validates against these
schemas once, at the edge (see `require_columns`).
"""

from __future__ import annotations

import pyarrow as pa

from netcx.errors import InvalidInput

ms = pa.int64()  # epoch milliseconds, UTC
s = pa.string()

# ---------------------------------------------------------------- world: CRM (crm/*.parquet)
ACCOUNTS = pa.schema([("account_id", s), ("segment", s), ("created_ms", ms)])
HOUSEHOLDS = pa.schema(
    [("household_id", s), ("account_id", s), ("area_id", s), ("has_fixed", pa.bool_())]
)
SUBSCRIBERS = pa.schema(
    [("subscriber_id", s), ("household_id", s), ("account_id", s), ("birth_year", pa.int16())]
)
LINES = pa.schema(
    [
        ("line_id", s),
        ("kind", s),  # mobile | fixed
        ("subscriber_id", s),  # null for fixed lines (household-level)
        ("household_id", s),
        ("account_id", s),
        ("msisdn", s),  # mobile only (E.164 digits, no '+')
        ("imsi", s),  # mobile only
        ("user_name", s),  # fixed only: PPPoE/IPoE login
        ("tariff", s),
        ("device_model", s),
        ("contract_start_ms", ms),
        ("contract_end_ms", ms),
        ("monthly_charge_eur", pa.float64()),
        ("area_id", s),
    ]
)

# ---------------------------------------------------------------- world: network (network/*)
# Raw text logs live beside these: network/radius/detail-*.log (FreeRADIUS detail format) and
# network/cgnat/*.log (vendor syslog). The Parquet copy of RADIUS is what an operator's
# accounting warehouse would export.
RADIUS = pa.schema(
    [
        ("status", s),  # Start | Interim-Update | Stop | Accounting-On | Accounting-Off
        ("nas_ip", s),
        ("nas_identifier", s),
        ("session_id", s),
        ("user_name", s),
        ("calling_station_id", s),  # MSISDN for mobile
        ("called_station_id", s),  # APN for mobile
        ("framed_ip", s),
        ("framed_ipv6_prefix", s),
        ("delegated_ipv6_prefix", s),
        ("imsi", s),
        ("imeisv", s),
        ("event_ts_s", pa.int64()),  # Event-Timestamp (NAS clock)
        ("delay_s", pa.int32()),  # Acct-Delay-Time
        ("session_time_s", pa.int64()),  # Acct-Session-Time (Interim/Stop)
        ("terminate_cause", s),
        ("arrival_ms", ms),  # collector clock
    ]
)

# ---------------------------------------------------------------- world: web (web/hits.parquet)
HITS = pa.schema(
    [
        ("hit_id", pa.int64()),
        ("ts_ms", ms),  # server receive time (UTC)
        ("visitor_id", s),  # first-party cookie / app install id
        ("session_id", s),
        ("channel", s),  # web | app
        ("event_type", s),  # page | screen | search | click | login
        ("url", s),
        ("title", s),
        ("search_term", s),
        ("referrer", s),
        ("user_agent", s),
        ("src_ip", s),  # public client address as the operator's front end saw it
        ("src_port", pa.int32()),  # null when the path drops it
        ("login_subscriber_id", s),  # set on login events only (the site knows who logged in)
        ("consent_analytics", pa.bool_()),
        ("consent_personalisation", pa.bool_()),
        ("consent_marketing", pa.bool_()),
    ]
)

# ---------------------------------------------------------------- world: outcomes (outcomes/*)
CHURN = pa.schema([("line_id", s), ("account_id", s), ("churn_ms", ms)])
UPGRADES = pa.schema([("line_id", s), ("account_id", s), ("upgrade_ms", ms)])
NPS = pa.schema([("account_id", s), ("survey_ms", ms), ("score", pa.int8())])
CARE_CONTACTS = pa.schema(
    [
        ("contact_id", s),
        ("account_id", s),
        ("line_id", s),
        ("ts_ms", ms),
        ("channel", s),  # call | chat | shop | email
        ("reason", s),  # billing | cancel | complaint | outage | device | tariff | roaming | ...
        ("repeat_within_7d", pa.bool_()),
        ("asked_again", pa.bool_()),  # information the customer had to give again
    ]
)
OUTAGES = pa.schema(
    [("outage_id", s), ("area_id", s), ("start_ms", ms), ("end_ms", ms), ("eta_ms", ms)]
)

# ---------------------------------------------------------------- world: ground truth (truth/*)
HITS_TRUTH = pa.schema(
    [
        ("hit_id", pa.int64()),
        ("true_line_id", s),  # null when not from one of our lines
        ("true_subscriber_id", s),
        ("true_household_id", s),
        ("true_account_id", s),
        ("attributable_level", s),  # line | household | none: best level the logs support
        ("unattributable_reason", s),  # prospect | vpn | after_lease | no_port | ... or null
        ("true_intent", s),  # latent intent of the session, or 'none'
        ("journey_id", s),
    ]
)
JOURNEYS = pa.schema(
    [
        ("journey_id", s),
        ("intent", s),
        ("account_id", s),
        ("household_id", s),
        ("line_id", s),
        ("subscriber_id", s),
        ("start_ms", ms),
        ("end_ms", ms),
        ("high_intent", pa.bool_()),
        ("outcome_ms", ms),  # churn/upgrade date the journey leads to, if any
    ]
)

# ---------------------------------------------------------------- derived tables
RESOLVED_HITS = pa.schema(
    [
        ("hit_id", pa.int64()),
        ("level", s),  # line | household | unknown
        ("reason", s),
        ("confidence", pa.float32()),
        ("line_id", s),  # pseudonyms from here on
        ("subscriber_id", s),
        ("household_id", s),
        ("account_id", s),
        ("evidence", s),  # JSON list of Evidence
    ]
)
SESSION_IDENTITY = pa.schema(
    [
        ("session_id", s),
        ("visitor_id", pa.string()),  # pseudonym of the cookie / install id
        ("start_ms", ms),
        ("end_ms", ms),
        ("channel", s),
        # strongest state reached in the session for the *personalisation* purpose:
        # anonymous | network_line | network_household | authenticated
        ("recognition", s),
        ("recognised_ms", ms),  # first moment the session was recognised (null if never)
        ("login_ms", ms),  # first login in the session (null if none)
        ("confidence", pa.float32()),
        ("line_id", s),  # pseudonyms; null when not recognised or no consent
        ("subscriber_id", s),
        ("household_id", s),
        ("account_id", s),
        ("consent_personalisation", pa.bool_()),
    ]
)
SESSION_INTENTS = pa.schema(
    [
        ("session_id", s),
        ("intent", s),  # one of the taxonomy's intents, or 'none'
        ("score", pa.float64()),
        ("emerged_ms", ms),  # when the score crossed the threshold
        ("first_signal_ms", ms),
        ("evidence", s),  # JSON: the pages/searches that scored
    ]
)
DECISIONS = pa.schema(
    [
        ("decision_id", s),
        ("ts_ms", ms),
        ("session_id", s),
        ("visitor_id", s),
        ("account_id", s),  # pseudonym; unit of holdout
        ("recognition", s),  # anonymous | network_line | network_household | authenticated
        ("intent", s),
        ("experience", s),
        ("reason", s),
        ("holdout", pa.bool_()),  # true: logged as 'would have triggered', nothing shown
        ("shown", pa.bool_()),
    ]
)

# intents of a household across its members' sessions (netcx.services.intents)
HOUSEHOLD_INTENTS = pa.schema(
    [
        ("household_id", s),  # pseudonym
        ("intent", s),
        ("score", pa.float64()),  # household score when the intent emerged
        ("emerged_ms", ms),
        ("first_signal_ms", ms),
        ("last_signal_ms", ms),
        ("members", s),  # JSON list of the line / visitor pseudonyms behind the evidence
        ("sessions", s),  # JSON list of session ids
        ("evidence", s),  # JSON: the pages/searches that scored, with their member
    ]
)


# ---------------------------------------------------------------- normalised network bindings
# What the batch resolvers (DuckDB, Spark) read: RADIUS leases and CGNAT port blocks as
# intervals, and the block layout per outside address (bindings/*.parquet).
BINDING_FIELDS = [
    ("start_ms", pa.int64()),
    ("end_ms", pa.int64()),
    ("confirmed_ms", pa.int64()),
    ("inferred", pa.bool_()),
    ("holder", s),
    ("kind", s),
    ("ref", s),
    ("source", s),
    ("detail", s),
]
BINDING_LEASES = pa.schema([("ctx", s), ("addr", s), *BINDING_FIELDS])
BINDING_BLOCKS = pa.schema(
    [("ip", s), ("port_lo", pa.int32()), *BINDING_FIELDS, ("inside_vrf", s), ("inside_ip", s)]
)
BINDING_LAYOUT = pa.schema(
    [("ip", s), ("port_lo", pa.int32()), ("port_hi", pa.int32()), ("step", pa.int32())]
)


def require_columns(table: pa.Table, schema: pa.Schema, source: str) -> pa.Table:
    """Select and cast `table` to `schema`; raise InvalidInput naming the source and column."""
    missing = [f.name for f in schema if f.name not in table.column_names]
    if missing:
        raise InvalidInput(f"{source}: missing column(s) {', '.join(missing)}")
    try:
        return table.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise InvalidInput(
            f"{source}: column types do not match the expected schema: {err}"
        ) from err
