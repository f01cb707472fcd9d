"""Typed settings read once from NETCX_* environment variables and an optional YAML file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AwareDatetime, BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from netcx.errors import ConfigError


class StorageSettings(BaseModel):
    """Where state lives. `backend` names an adapter; `embedded` needs no server."""

    backend: str = "embedded"
    data_dir: Path = Path("data")


class PseudonymSettings(BaseModel):
    """Keys for HMAC-SHA256 pseudonyms. Rotate by adding a key and moving `current`."""

    keys: dict[str, SecretStr] = Field(
        default_factory=lambda: {"k1": SecretStr("netcx-dev-key-change-me")}
    )
    current: str = "k1"
    # Rotation schedule: key version → when it takes over (the latest one started is used).
    activations: dict[str, AwareDatetime] = Field(default_factory=dict)


class ResolverSettings(BaseModel):
    """Attribution tolerances (see docs/resolution.md)."""

    clock_skew_s: float = 2.0
    lease_end_grace_s: float = 0.0
    interim_interval_s: int = 900
    interim_margin_factor: float = 2.0
    retention_days: int = 180
    batch_memory_limit: str = "4GB"  # DuckDB memory limit of the batch resolver


class HttpSettings(BaseModel):
    """The HTTP service: bind address, caller credentials and trusted proxies."""

    host: str = "127.0.0.1"
    port: int = 8080
    api_keys: list[SecretStr] = Field(default_factory=list)
    write_keys: list[SecretStr] = Field(default_factory=list)
    trusted_proxies: list[str] = Field(default_factory=list)
    client_port_header: str = "x-client-port"


class RadiusSettings(BaseModel):
    """The RADIUS accounting listener."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 1813
    secret: SecretStr | None = None
    nas_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    fsync: bool = True  # acknowledge only after fsync of the accounting journal


class CamaraSettings(BaseModel):
    """CAMARA Number Verification v2 (docs/camara.md); served when `issuer` is set."""

    issuer: str = ""
    audience: str = ""
    jwks_url: str | None = None
    jwks_file: Path | None = None
    jwks_ttl_s: float = 300.0
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    leeway_s: int = 0
    network_amr: list[str] = Field(default_factory=lambda: ["network", "sim"])
    fixture_file: Path | None = None

    @model_validator(mode="after")
    def _one_key_source(self) -> CamaraSettings:
        if self.issuer and not self.audience:
            raise ValueError("camara.audience is required when camara.issuer is set")
        if self.issuer and (self.jwks_url is None) == (self.jwks_file is None):
            raise ValueError("set exactly one of camara.jwks_url, camara.jwks_file")
        return self


class CollectSettings(BaseModel):
    """The event collector: event log (backend, durability) and the first-party tag.

    event_log: `segments` = append-only files under <data_dir>/events (embedded default);
    `memory` = nothing durable (tests). A retry is recognised as a duplicate across restarts
    when its first copy is in a segment written within `dedupe_window_s`.

    fsync: `always` = fdatasync each group commit before acknowledging (survives power loss);
    `interval` = write before acknowledging, fdatasync every `fsync_interval_ms` (survives a
    process crash); `never` = leave flushing to the OS.

    recognition: `inline` = each worker recognises a request's events before its 2xx (read
    your writes: the next call sees the recognition and intents); `follower` = workers only
    store, and one recognition follower per data directory (started by `netcx serve`, or
    `netcx events recognise`) recognises the stored events a few ms later in groups of up to
    `follower_group_events`, polling every `follower_poll_ms` — the throughput setting for
    several workers on the embedded stores. Batches are the exception: a request of at
    least `inline_batch_events` events is recognised by its worker before the 2xx, as
    inline (for batches inline is faster; docs/collector.md, "Speed"). While the follower is
    more than `follower_max_lag_bytes` of log behind, collector replies it would recognise
    wait for it (at most `follower_max_wait_ms`). The segment log only, and not with a bus
    backend (the forwarder keys events by their inline recognition).
    """

    event_log: Literal["segments", "memory"] = "segments"
    fsync: Literal["always", "interval", "never"] = "always"
    fsync_interval_ms: int = Field(default=200, gt=0)
    # fsync=always: while requests stream in, a group commit may wait this long for more to
    # share its write. 0: each loop iteration writes, and one fdatasync at a time (in a
    # worker thread) covers whatever was written while the previous one ran — faster here
    # than lingering (docs/collector.md, Speed).
    fsync_linger_ms: float = Field(default=0.0, ge=0, le=50)
    segment_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    dedupe_window_s: float = Field(default=3600, gt=0)
    max_body_bytes: int = Field(default=512 * 1024, gt=0)
    visitor_cookie: str = "netcx_vid"
    visitor_cookie_max_age_s: int = Field(default=400 * 86400, gt=0)
    tag_allowed_origins: list[str] = Field(default_factory=list)
    # A recognition group smaller than `recognition_group_events` waits up to this long for
    # more requests: each group pays fixed costs (a transaction per store).
    recognition_linger_ms: float = Field(default=1.0, ge=0, le=50)
    recognition_group_events: int = Field(default=64, ge=1)
    recognition: Literal["inline", "follower"] = "inline"
    # In follower mode, a request of at least this many events (a batch) is recognised by
    # its worker before the 2xx, as inline; 0: the follower recognises every event. Measured
    # (one visitor per batch): at 5 events the follower is faster, at 20 they tie, at 100
    # the workers are (docs/collector.md, Speed).
    inline_batch_events: int = Field(default=50, ge=0)
    follower_group_events: int = Field(default=500, ge=1, le=100_000)
    follower_poll_ms: float = Field(default=5.0, gt=0, le=1000)
    # Backpressure: while the follower is this far behind, collector replies wait (up to
    # follower_max_wait_ms, then the events are accepted anyway).
    follower_max_lag_bytes: int = Field(default=4 * 1024 * 1024, ge=0)
    follower_max_wait_ms: float = Field(default=2000, ge=0)
    # Prometheus metrics of the follower process (recognised by level, lag), off when None.
    follower_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    follower_metrics_host: str = "127.0.0.1"


class IdentitySettings(BaseModel):
    """Identity graph, consent ledger and audit log (see docs/privacy.md).

    store: `sqlite` = files under <data_dir>/identity (embedded default; shared safely by
    the server's workers and the CLI); `redis` = online state shared by several hosts
    (Redis/Valkey at `redis_url`); `postgres` = durable shared stores (PostgreSQL at
    `scale.postgres.url`); `memory` = tests.
    """

    store: Literal["sqlite", "redis", "postgres", "memory"] = "sqlite"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "netcx"
    network_edge_ttl_s: int = Field(default=1800, gt=0)
    retention_days: dict[str, int] = Field(default_factory=dict)  # data kind → days
    # Stand-in resolver until the network resolver is wired: a JSON file of bindings.
    static_bindings: Path | None = None


class IntentSettings(BaseModel):
    """Intent detection: the taxonomy file and where scorer state lives."""

    taxonomy_path: Path | None = None  # None: the default taxonomy shipped with netcx
    state_backend: str = "embedded"  # memory | embedded (SQLite in data_dir) | redis
    redis_url: str = "redis://127.0.0.1:6379/0"
    state_ttl_s: int = 90 * 86400  # redis: a subject untouched this long is forgotten
    # serve scores each collected event inline; false when `netcx bus intents` workers score
    # the stored events instead (they then share the state without counting an event twice)
    score_inline: bool = True


class TriggerSettings(BaseModel):
    """Where decisions are handed off: `sink` names the adapter (none | memory | webhook |
    redis | kafka); delivery runs from a background queue with retries and a dead-letter store."""

    sink: str = "none"
    destination: str = "cvm"  # pseudonyms in payloads are specific to this destination
    queue_size: int = 10_000
    max_attempts: int = 5
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 10.0
    timeout_s: float = 2.0
    webhook_url: str | None = None
    webhook_secret: SecretStr = SecretStr("netcx-dev-webhook-secret")
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_stream: str = "netcx.triggers"
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_topic: str = "netcx.triggers"
    kafka_partitions: int = Field(default=6, gt=0)  # when netcx creates the topic
    kafka_retention_ms: int = Field(default=7 * 86_400_000, gt=0)
    # serve delivers to `sink` itself; false when `netcx bus triggers` workers deliver:
    # serve then only publishes each trigger to `bus` (the Kafka topic `kafka_topic` or the
    # Redis stream `redis_stream`) and the workers deliver it to `sink` (webhook), so a
    # trigger is never delivered by both
    deliver_inline: bool = True
    bus: Literal["kafka", "redis"] = "kafka"
    # How long a worker remembers a trigger the receiver acknowledged (a redelivery within
    # it is not sent again); the ledger is in `scale.online` Redis, else SQLite in data_dir.
    delivered_ttl_s: int = Field(default=7 * 86400, gt=0)


class DecisionSettings(BaseModel):
    """The decision policy (None: the shipped default), the decision log backend
    (memory | sqlite, stored under storage.data_dir | postgres, at scale.postgres.url) and
    trigger hand-off."""

    policy_file: Path | None = None
    log: str = "sqlite"
    srm_alpha: float = 0.001
    triggers: TriggerSettings = Field(default_factory=TriggerSettings)


class MeasurementSettings(BaseModel):
    """What the report's four measures count, and where /dashboard reads (docs/measurement.md)."""

    # How far back a negative experience is stitched to the customer's web/app sessions.
    lookback_days: int = Field(default=14, ge=1)
    negative_contact_reasons: list[str] = Field(default_factory=lambda: ["complaint", "cancel"])
    research_intents: list[str] = Field(default_factory=lambda: ["churn_research"])
    high_intents: list[str] = Field(
        default_factory=lambda: [
            "churn_research",
            "upgrade",
            "fibre_availability",
            "outage",
            "billing_problem",
        ]
    )
    # The designed holdout shares are the decision policy's (decisions.policy_file), not here.
    # Folder of run directories (or one run directory) the dashboard shows; default <data>/runs.
    runs_dir: Path | None = None


class PostgresSettings(BaseModel):
    """The PostgreSQL database of the durable stores (identity graph, consent, audit,
    decision log).

    Writes are retried with bounded backoff for up to `retry_budget_s` when the connection
    is lost (restart, failover); migrations run at start-up or with `netcx db migrate`.
    """

    url: str = "postgresql://netcx@127.0.0.1:5432/netcx"
    pool_size: int = Field(default=4, gt=0)
    retry_budget_s: float = Field(default=30.0, gt=0)


class BusSettings(BaseModel):
    """Where the collector's forwarder publishes stored events and workers consume them.

    backend: `kafka` = a Kafka-protocol broker (Kafka, Redpanda, Tansu) at `kafka_bootstrap`;
    `redis` = Redis Streams at `redis_url` (one stream per partition); `none` = no forwarding.
    Events are keyed by line pseudonym (visitor pseudonym when unrecognised) into
    `partitions` partitions of `topic`; each consumer group gets every event at least once.
    """

    backend: Literal["none", "kafka", "redis"] = "none"
    topic: str = "netcx.events"
    partitions: int = Field(default=6, gt=0)
    kafka_bootstrap: str = "127.0.0.1:9092"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "netcx"
    batch_size: int = Field(default=500, gt=0)
    poll_interval_ms: int = Field(default=100, gt=0)
    recognition_wait_ms: int = Field(default=2000, ge=0)
    dedupe_ttl_s: int = Field(default=7 * 86400, gt=0)
    # `netcx serve` runs the forwarder itself when a backend is set (one per data dir,
    # whatever the worker count); false: run `netcx bus forward` separately.
    forward_in_serve: bool = True
    # Life of an event's copy on a Kafka topic netcx creates (retention.ms): a topic cannot
    # delete single records, so this bounds how long an erased subject's copies remain.
    kafka_retention_ms: int = Field(default=7 * 86_400_000, gt=0)


class OnlineSettings(BaseModel):
    """Online state the bus workers share (docs/scaling.md).

    store: `redis` = Redis/Valkey at `redis_url` (hot bindings with TTL, per-event answers,
    counters; several workers on several machines); `memory` = one process (tests).
    With `memory` the workers resolve with the identity area's resolver.
    """

    store: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "netcx"
    bindings_ttl_s: int = Field(default=86400, gt=0)
    answers_ttl_s: int = Field(default=7 * 86400, gt=0)


class ScaleSettings(BaseModel):
    """Scale-out backends (docs/scaling.md): PostgreSQL durable stores, the event bus and the
    workers' online state."""

    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    bus: BusSettings = Field(default_factory=BusSettings)
    online: OnlineSettings = Field(default_factory=OnlineSettings)


class Settings(BaseSettings):
    """All settings. Env NETCX_<SECTION>__<FIELD> (NETCX_HTTP__PORT=9000); file NETCX_CONFIG."""

    model_config = SettingsConfigDict(
        env_prefix="NETCX_", env_nested_delimiter="__", extra="forbid"
    )

    storage: StorageSettings = Field(default_factory=StorageSettings)
    pseudonyms: PseudonymSettings = Field(default_factory=PseudonymSettings)
    resolver: ResolverSettings = Field(default_factory=ResolverSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    radius: RadiusSettings = Field(default_factory=RadiusSettings)
    camara: CamaraSettings = Field(default_factory=CamaraSettings)
    collect: CollectSettings = Field(default_factory=CollectSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    intents: IntentSettings = Field(default_factory=IntentSettings)
    decisions: DecisionSettings = Field(default_factory=DecisionSettings)
    measurement: MeasurementSettings = Field(default_factory=MeasurementSettings)
    # A world folder whose CRM backs the live service (customer facts for decisions, the
    # CAMARA line directory); `netcx serve --world DIR` sets it and imports its logs.
    world: Path | None = None
    scale: ScaleSettings = Field(default_factory=ScaleSettings)

    @model_validator(mode="after")
    def _write_keys_shorthand(self) -> Settings:
        """NETCX_WRITE_KEYS=k1,k2 (the collector's shorthand) adds to http.write_keys."""
        keys = [k.strip() for k in os.environ.get("NETCX_WRITE_KEYS", "").split(",")]
        known = {k.get_secret_value() for k in self.http.write_keys}
        self.http.write_keys += [SecretStr(k) for k in keys if k and k not in known]
        return self

    @model_validator(mode="after")
    def _follower_on_segments_only(self) -> Settings:
        if self.collect.recognition != "follower":
            return self
        if self.collect.event_log != "segments":
            raise ValueError(
                "collect.recognition=follower needs collect.event_log=segments "
                f"(not {self.collect.event_log}): the follower tails the segment files"
            )
        if self.scale.bus.backend != "none":
            raise ValueError(
                "collect.recognition=follower cannot be combined with scale.bus.backend="
                f"{self.scale.bus.backend}: the forwarder keys each event by its inline "
                "recognition; use collect.recognition=inline with a bus"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: explicit arguments > environment > config file > defaults.
        return (init_settings, env_settings, _YamlFileSource(settings_cls))


class _YamlFileSource(PydanticBaseSettingsSource):
    """Reads the YAML file named by NETCX_CONFIG, if any."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("NETCX_CONFIG")
        if not path:
            return {}
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"NETCX_CONFIG={path}: no such file")
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from err
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: top level must be a mapping of sections")
        return data


def load_settings(**overrides: Any) -> Settings:
    """Read settings once; a bad value raises ConfigError naming the setting."""
    try:
        return Settings(**overrides)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from err
