"""Settings from the environment (prefix ``JIFEN_``)."""

from __future__ import annotations

import ipaddress
import json
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class NegativeBalancePolicy(StrEnum):
    """What a claw-back does when the member already spent the points it takes back."""

    ALLOW_NEGATIVE = "allow_negative"  # the member owes the rest (a debt paid by later credits)
    TAKE_REMAINING = "take_remaining"  # take what is left; the rest is written off


# HS256 wants a key at least as long as its hash (RFC 7518 §3.2): 32 bytes.
MIN_JWT_SECRET_BYTES = 32
MIN_SWEEP_LOTS_PER_SECOND = 100


class Profile(StrEnum):
    """How much a process trusts its surroundings (docs/OPERATIONS.md, "The production profile")."""

    DEVELOPMENT = "development"  # tokens printed, GraphiQL, /metrics open, readable logs
    PRODUCTION = "production"  # none of that unless configured


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JIFEN_", env_file=".env", extra="ignore")

    env: Profile = Profile.DEVELOPMENT

    # When unset, `jifen serve` starts an embedded PostgreSQL and Redis under `data_dir`.
    database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = Path(".jifen")
    # Read replicas (docs/SCALING.md, "Read replicas"): streaming standbys of database_url,
    # comma-separated (or a JSON list). GraphQL queries and subscription replays read there
    # when a replica has replayed the caller's last write; everything else stays on the primary.
    database_replica_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # A replica further behind than this is skipped (the primary takes its reads).
    replica_max_lag_seconds: float = Field(default=5.0, gt=0)
    replica_check_seconds: float = Field(default=1.0, gt=0)  # replay position polled this often

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1

    # Generated and stored under data_dir by the embedded default when unset.
    jwt_secret: str | None = None
    jwt_issuer: str = "jifen"
    jwt_ttl_seconds: int = 12 * 3600

    timezone: str = "Asia/Shanghai"
    point_value_cny: str = "0.1"
    max_points_per_operation: int = Field(default=10_000_000, ge=1)
    # earnPointsBatch (docs/API.md "Bulk earns"): at most this many earns in one call. 500 items
    # are ~150 KB of JSON, well inside max_request_bytes, and ~9 statements of 60 postings.
    earn_points_batch_max: int = Field(default=500, ge=1, le=5_000)
    negative_balance_policy: NegativeBalancePolicy = NegativeBalancePolicy.ALLOW_NEGATIVE
    default_hold_seconds: int = 15 * 60
    default_expiry_months: int | None = 12
    # The programme's expiry policy (docs/LIFECYCLE.md): rolling:N | year_end[:N] |
    # fixed:YYYY-MM-DD | never. Unset: rolling:<default_expiry_months> (never when that is unset).
    expiry_policy: str | None = None

    # Scheduled jobs (docs/LIFECYCLE.md): run them in this process (`jifen worker`, and
    # `jifen serve` unless turned off: API replicas next to a worker may leave them to it).
    jobs_enabled: bool = True
    expiry_sweep_batch: int = Field(default=1000, ge=1)  # accounts settled per transaction
    # The sweep's budget of lots expired a second (docs/CONFIGURATION.md; 0: unpaced, as fast as
    # the database goes, for a maintenance window). The default keeps the API's p99 within 1.2x
    # of its own on a 2-core box shared with the API (docs/PERFORMANCE.md "Expiry sweep").
    expiry_sweep_lots_per_second: int = 2_000
    # Connections the sweep settles batches on at once (docs/CONFIGURATION.md): one keeps one
    # core busy at most; 2 on a 2-core box in a maintenance window (docs/SCALING.md).
    expiry_sweep_connections: int = Field(default=1, ge=1)
    # Expiry reminders: days before expiry a member is told (one alert per threshold per date).
    expiry_reminder_days: list[int] = Field(default_factory=lambda: [30, 7])
    # Retention (docs/OPERATIONS.md, "Retention"): idempotency keys must outlive any client's
    # retries (an offline till's included); a notification is kept for the member's inbox.
    idempotency_retention_days: float = Field(default=30.0, gt=0)
    notification_retention_days: float = Field(default=180.0, gt=0)
    # Gifting between members: the most one gift may move, and one sender may give in a day.
    gift_max_points: int = Field(default=5_000, ge=1)
    gift_daily_limit: int = Field(default=20_000, ge=1)
    # RFM segments (docs/ANALYTICS.md, "Segments"): the activity window scored, and how recent a
    # registration makes a member "new".
    segment_window_days: int = Field(default=365, ge=1, le=3_650)
    segment_new_days: int = Field(default=30, ge=0, le=3_650)
    # Anomaly alerts (docs/ANALYTICS.md, "Anomaly alerts"): the detector's thresholds.
    alert_window_minutes: int = Field(default=60, ge=5, le=1_440)  # "the last hour"
    alert_baseline_days: int = Field(default=7, ge=1, le=90)  # an item's own baseline
    alert_redemption_surge_factor: float = Field(default=5.0, gt=1)
    alert_redemption_surge_min: int = Field(default=20, ge=1)  # units in the window, at least
    alert_earning_factor: float = Field(default=10.0, gt=1)  # times its tier's median earner
    alert_earning_min_points: int = Field(default=5_000, ge=1)  # in the last 24 hours
    alert_earning_min_peers: int = Field(default=5, ge=1)  # earners of its tier to compare with
    alert_credential_failures: int = Field(default=300, ge=1)  # refused credentials, window
    alert_budget_share: float = Field(default=0.9, gt=0, le=1)  # a budget this much spent

    # Earning and tiers (docs/EARNING.md, docs/TIERS.md).
    earning_return_window_days: int = Field(default=7, ge=0)  # purchase points pending this long
    earning_daily_ceiling: int | None = Field(default=None, ge=1)  # all rule earning, per day
    tier_window_months: int = Field(default=12, ge=1)  # qualifying spend: this rolling window
    tier_inactivity_months: int = Field(default=1, ge=1)  # no activity this long: one tier down
    tier_qualifying_measure: Literal["spend", "points"] = "spend"  # what thresholds count

    # The points mall (docs/MALL.md).
    mall_order_timeout_seconds: int = Field(default=15 * 60, ge=10)  # unconfirmed orders expire
    checkout_max_share: str = "0.5"  # points may pay at most this share of a basket
    checkout_min_points: int = Field(default=10, ge=1)  # fewer points are not offered

    # The point's value policy (docs/ANALYTICS.md, "Point value"): off by default. Points whose
    # lot expires within ``value_expiring_days`` days redeem at ``value_expiring_fraction`` of
    # their value (积分限时贬值); a tier in ``value_tier_premiums`` redeems at that multiple
    # (高活跃用户积分价值提升), e.g. {"gold": "1.2"}.
    value_expiring_days: int | None = Field(default=None, ge=1, le=366)
    value_expiring_fraction: Decimal = Field(default=Decimal(1), gt=0, le=1)
    value_tier_premiums: dict[str, Annotated[Decimal, Field(ge=1, le=10)]] = Field(
        default_factory=dict
    )

    max_query_depth: int = 12
    max_query_aliases: int = 30
    max_query_tokens: int = 2_000
    # The estimated size of an answer (app/graphql/core/cost.py), introspection included.
    max_query_cost: int = Field(default=100_000, ge=1)
    # Introspection (__schema, __type) for callers without a credential; signed-in callers
    # (GraphiQL with an Authorization header among them) always have it.
    introspection_anonymous: bool = False
    # Request limits at the edge (docs/API.md "Limits"): an HTTP body or WebSocket message over
    # max_request_bytes is refused (413 / close 4400); so is JSON nested deeper than
    # max_json_depth (400).
    max_request_bytes: int = Field(default=1_048_576, ge=1024)
    max_json_depth: int = Field(default=32, ge=2)
    page_size_cap: int = 100

    # Per-principal budgets ("N/second|minute|hour"), counted in Redis across replicas.
    rate_limit_member: str = "300/minute"
    rate_limit_staff: str = "6000/minute"
    rate_limit_partner: str = "6000/minute"
    rate_limit_anonymous: str = "600/minute"
    # One widget key serves every visitor of a brand's page (docs/WIDGETS.md): their budget.
    rate_limit_widget: str = "6000/minute"
    # Failed credentials (app/auth/guard.py): past these, the sender is refused for a while.
    auth_failures_per_address: str = "30/minute"
    auth_failures_per_key: str = "10/minute"
    auth_unknown_key_cache_seconds: float = Field(default=30.0, ge=0)
    # Console sessions (docs/CONSOLE.md): how long one lasts after sign-in, whatever is done.
    console_session_seconds: int = Field(default=8 * 3600, ge=60)
    # Pages on other origins that may open a WebSocket (the widgets'); ["*"]: any (docs/WIDGETS.md).
    websocket_origins: list[str] = ["*"]
    # How boards show members' names (app/leaderboards/masking.py): middle, initial or hidden.
    leaderboard_names: Literal["middle", "initial", "hidden"] = "middle"

    # Garbage collection for processes with many subscriptions (app/gcpolicy.py); 0 turns it off.
    gc_freeze_seconds: float = Field(default=5.0, ge=0)
    gc_full_collect_seconds: float = Field(default=600.0, gt=0)
    # How long a `jifen serve` worker may not answer its supervisor's ping before it is killed
    # and replaced. The full collection above holds the interpreter for seconds in a worker
    # with ~10,000 subscriptions; at uvicorn's 5 s such a worker was killed mid-collection
    # and every socket it held dropped (bench/fanout.py, 20,000 subscribers).
    worker_healthcheck_seconds: int = Field(default=60, gt=0)

    db_pool_size: int = 10
    # earnPoints' group commit (app/ledger/groupcommit.py): at most this many earns in one
    # statement and one COMMIT; 0 sends each earn alone. At most 60: each posting is a
    # subtransaction, and a transaction with more than 64 makes other sessions' snapshots slow.
    earn_batch_max: int = Field(default=32, ge=0, le=60)
    # The same for placeRedemption's placements of one item (app/mall/onetrip.py): a flash
    # sale's winners share a COMMIT and so the item's row lock and WAL flush; 0: each alone.
    mall_order_batch_max: int = Field(default=32, ge=0, le=60)
    # The same for checkIn's one statement (app/engagement/onetrip.py, engagement_check_ins()):
    # the check-ins one process has in hand at the same moment share a statement and a COMMIT;
    # 0: each alone.
    checkin_batch_max: int = Field(default=32, ge=0, le=60)
    # Redis connections per process; past this a command waits (up to the timeout) for one
    # instead of failing, so a rush of requests queues rather than errors.
    redis_pool_size: int = Field(default=100, ge=1)
    redis_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    log_level: str = "INFO"
    # Unset: JSON lines in production or when stderr is not a terminal, readable lines otherwise.
    log_json: bool | None = None

    # GraphiQL at /graphql in a browser; unset: on in development, off in production.
    graphiql: bool | None = None
    # A bearer token /metrics requires. Unset: /metrics is open in development and not served in
    # production.
    metrics_token: str | None = None
    # `jifen worker` has no API: it serves /metrics on this port when set (same token rules).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    # Events: the outbox relay and the real-time gateway (docs/EVENTS.md).
    relay_enabled: bool = True  # run the relay in this process (one leader among all of them)
    relay_poll_seconds: float = Field(default=1.0, gt=0)  # when no wake comes (app/events/wake.py)
    relay_batch_size: int = Field(default=500, ge=1)
    # A wake is served this much later: the commits close behind share its round (0: at once).
    relay_coalesce_seconds: float = Field(default=0.01, ge=0, le=1)
    event_retention_hours: float = Field(default=72, gt=0)  # published events kept this long
    # Redis pub/sub channels are shared by every database of a Redis server: channels are
    # "<prefix><topic>", the prefix by default "jifen:<redis db>:".
    event_channel_prefix: str | None = None
    subscriber_buffer: int = Field(default=1_000, ge=1)  # events a slow client may lag behind
    ws_connection_init_timeout_seconds: float = Field(default=10, gt=0)
    # A socket's revoked key or closed member is noticed within this (app/graphql/core/sockets.py).
    ws_credential_recheck_seconds: float = Field(default=30, gt=0)
    ws_max_operations: int = Field(default=50, ge=1)  # running at once on one socket
    # How often a programmeEvents subscription (the console's live feed) looks for new events.
    feed_poll_seconds: float = Field(default=0.5, gt=0)

    # Leaderboards (docs/LEADERBOARDS.md).
    leaderboard_batch_size: int = Field(default=1_000, ge=1)  # events per Lua call
    leaderboard_poll_seconds: float = Field(default=0.5, gt=0)  # when nothing wakes the projector
    # How long to wait for running transactions before a batch (they may hold smaller event ids).
    leaderboard_horizon_timeout: float = Field(default=5.0, gt=0)

    # Partner webhooks (docs/WEBHOOKS.md). `jifen worker` always delivers; `jifen serve` only
    # when webhooks_in_serve is set.
    webhooks_in_serve: bool = False
    # Networks a receiver may resolve to despite the address policy (CIDRs: ["127.0.0.1/32"]).
    webhook_allowed_networks: list[str] = Field(default_factory=list)
    webhook_poll_seconds: float = Field(default=0.25, gt=0)  # outbox and due-message polling
    webhook_dispatch_batch: int = Field(default=500, ge=1)  # events read per transaction
    webhook_dispatch_gather_seconds: float = Field(default=0.05, ge=0)  # passes at most this often
    webhook_concurrency: int = Field(default=64, ge=1)  # attempts in flight per process
    webhook_endpoint_concurrency: int = Field(default=16, ge=1)  # per endpoint, all processes
    webhook_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    webhook_timeout_seconds: float = Field(default=15.0, gt=0)  # a whole attempt
    # A sender's claim on a message; another sender may attempt it once this has passed (the
    # first one died), so it must outlast an attempt.
    webhook_lease_seconds: float = Field(default=60.0, gt=0)
    webhook_response_bytes: int = Field(default=4_096, ge=0)  # of an answer's body read at most
    webhook_disable_after_hours: float = Field(default=120.0, gt=0)  # failing this long: disabled
    webhook_rotation_overlap_hours: float = Field(default=24.0, ge=0)  # both secrets sign
    webhook_retention_days: float = Field(default=30.0, gt=0)  # settled messages kept this long

    # Engagement (docs/ENGAGEMENT.md).
    engagement_team_bonus_percent: int = Field(default=20, ge=0, le=1000)
    engagement_referral_points: int = Field(default=100, ge=0)  # each, friend and referrer
    engagement_referral_monthly_cap: int = Field(default=10, ge=0)  # rewarded per referrer
    engagement_referral_window_days: int = Field(default=30, ge=0)  # accept within, registered
    engagement_winback_dormant_days: int = Field(default=90, ge=1)  # no activity this long
    engagement_winback_points: int = Field(default=100, ge=0)
    engagement_lottery_pool: str = "daily-wheel"  # where sign-in and task draws are granted

    @property
    def is_production(self) -> bool:
        return self.env is Profile.PRODUCTION

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else not self.is_production

    @field_validator("database_replica_urls", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [url.strip() for url in value.split(",") if url.strip()]
        return value

    @field_validator("expiry_sweep_lots_per_second")
    @classmethod
    def _a_sweep_budget_that_finishes(cls, value: int) -> int:
        # Below the floor a year-end clearing of a million lots would take more than three
        # hours, and a negative budget means nothing: both are typos, refused at start.
        if value != 0 and value < MIN_SWEEP_LOTS_PER_SECOND:
            raise ValueError(
                f"JIFEN_EXPIRY_SWEEP_LOTS_PER_SECOND must be 0 (unpaced) or at least "
                f"{MIN_SWEEP_LOTS_PER_SECOND}, not {value}"
            )
        return value

    @model_validator(mode="after")
    def _webhook_lease_outlasts_an_attempt(self) -> Settings:
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError(
                "JIFEN_WEBHOOK_LEASE_SECONDS must exceed JIFEN_WEBHOOK_TIMEOUT_SECONDS"
            )
        for spec in self.webhook_allowed_networks:  # a bad CIDR stops the start, named
            ipaddress.ip_network(spec.strip(), strict=False)
        return self

    @model_validator(mode="after")
    def _production_needs_a_real_secret(self) -> Settings:
        if not self.is_production:
            return self
        # Replicas must share one secret, and a short one can be guessed offline from any
        # token: a generated per-host secret or a short one is refused at start.
        if not self.jwt_secret:
            raise ValueError("JIFEN_JWT_SECRET must be set in production (openssl rand -hex 32)")
        if len(self.jwt_secret.encode()) < MIN_JWT_SECRET_BYTES:
            raise ValueError(
                f"JIFEN_JWT_SECRET is shorter than {MIN_JWT_SECRET_BYTES} bytes: "
                "use a longer one (openssl rand -hex 32)"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
