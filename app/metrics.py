"""Prometheus metrics: every metric Jifen exports, defined once here (docs/OPERATIONS.md).

Several uvicorn workers serve one port, and a scrape reaches one of them: ``jifen serve`` runs
prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, a folder it creates and
removes), where each process writes its values to memory-mapped files in that folder and the
scrape adds them up. The folder must be in the environment before ``prometheus_client`` is first
imported (its value class is chosen at import), which is why ``jifen serve`` sets it first
thing. A process that is not under ``jifen serve`` (tests, the CLI) counts in memory as usual.

Gauges say how they combine across processes: ``livesum`` (this many in all live processes),
``liveall`` (one series per live process, labelled by pid).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # set up by `jifen serve` (app/cli.py)
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Request latencies: a GraphQL operation is milliseconds; a slow one a few seconds.
OPERATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Jobs run from milliseconds (nothing due) to minutes (a year-end expiry sweep).
JOB_BUCKETS = (0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)

# GraphQL ------------------------------------------------------------------------------------
graphql_operations = Counter(
    "jifen_graphql_operations",
    "GraphQL operations answered, by operation name, type and outcome code (OK when none).",
    ["operation", "type", "outcome"],
)
graphql_duration = Histogram(
    "jifen_graphql_operation_duration_seconds",
    "Time to answer a query or mutation (subscriptions are not timed: they last).",
    ["operation", "type"],
    buckets=OPERATION_BUCKETS,
)
rate_limited = Counter(
    "jifen_rate_limited",
    "Operations refused with RATE_LIMITED, by kind of caller.",
    ["principal"],
)

# Ledger -------------------------------------------------------------------------------------
ledger_postings = Counter(
    "jifen_ledger_postings",
    "Committed journal entries, by kind (earn, spend, expire, ...).",
    ["kind"],
)
ledger_points = Counter(
    "jifen_ledger_points",
    "Points moved by committed journal entries (absolute amounts), by kind.",
    ["kind"],
)

# Events and subscriptions -------------------------------------------------------------------
relay_leader = Gauge(
    "jifen_relay_leader",
    "1 in the process whose outbox relay leads (publishes events), 0 in standbys.",
    # Labelled so that only a process that runs a relay reports one: a label-less gauge writes
    # its value file at import, and `jifen serve`'s supervisor (which imports this module but
    # runs no relay) would show up as a standby.
    ["relay"],
    multiprocess_mode="liveall",
)
relay_published = Counter("jifen_relay_published_events", "Events the relay published to Redis.")
websocket_connections = Gauge(
    "jifen_websocket_connections",
    "Open WebSocket connections on /graphql.",
    multiprocess_mode="livesum",
)
subscriptions_active = Gauge(
    "jifen_subscriptions_active",
    "Running subscriptions, by subscription field.",
    ["field"],
    multiprocess_mode="livesum",
)
subscription_messages = Counter(
    "jifen_subscription_messages",
    "Results sent to subscribers, by subscription field.",
    ["field"],
)
slow_consumer_closes = Counter(
    "jifen_slow_consumer_closes",
    "Subscriptions ended with SLOW_CONSUMER: the subscriber fell too far behind.",
)

# Jobs ---------------------------------------------------------------------------------------
job_runs = Counter(
    "jifen_job_runs",
    "Scheduled job runs in this deployment, by job and status (succeeded, failed, skipped).",
    ["job", "status"],
)
job_duration = Histogram(
    "jifen_job_duration_seconds",
    "How long job runs took, by job and status.",
    ["job", "status"],
    buckets=JOB_BUCKETS,
)

# Webhooks -----------------------------------------------------------------------------------
webhook_attempts = Counter(
    "jifen_webhook_attempts",
    "Webhook attempts, by outcome: delivered (2xx), retry (will be tried again), gone (410: the "
    "endpoint was disabled), failed (the schedule's last attempt: given up).",
    ["outcome"],
)
webhook_attempt_duration = Histogram(
    "jifen_webhook_attempt_duration_seconds",
    "Time from sending a webhook to its answer (or the error).",
    buckets=OPERATION_BUCKETS,
)

# Connections --------------------------------------------------------------------------------
db_pool_in_use = Gauge(
    "jifen_db_pool_connections_in_use",
    "PostgreSQL connections checked out of the pools.",
    multiprocess_mode="livesum",
)
db_pool_waiting = Gauge(
    "jifen_db_pool_waiting",
    "Requests waiting for a PostgreSQL connection (the pool and its overflow are all in use).",
    multiprocess_mode="livesum",
)
db_reads = Counter(
    "jifen_db_reads",
    "Reads that could go to a read replica (JIFEN_DATABASE_REPLICA_URLS), by where they went "
    "(replica, primary) and why: fresh (a replica had replayed what the caller must see), "
    "behind_write (no replica had replayed the caller's last write yet), lagging (every live "
    "replica was past JIFEN_REPLICA_MAX_LAG_SECONDS), down (none answered), marks_unreadable.",
    ["target", "reason"],
)
db_replica_up = Gauge(
    "jifen_db_replica_up",
    "1 while a read replica answers as a streaming standby, 0 while it is skipped.",
    ["replica"],
    multiprocess_mode="liveall",
)
db_replica_lag = Gauge(
    "jifen_db_replica_lag_seconds",
    "How long ago the primary was at the oldest position a replica has not replayed "
    "(0: caught up).",
    ["replica"],
    multiprocess_mode="liveall",
)
redis_errors = Counter(
    "jifen_redis_errors",
    "Redis commands that failed, by the component that noticed (rate_limit, relay, pubsub, "
    "flash_gate).",
    ["component"],
)


@dataclass(frozen=True)
class Measured:
    """A gauge measured at scrape time from the database (every process sees the same value,
    so it is reported once, not per process)."""

    name: str
    help: str
    value: float


class _Measured(Collector):
    def __init__(self, gauges: Sequence[Measured]) -> None:
        self.gauges = gauges

    def collect(self) -> Iterable[GaugeMetricFamily]:
        for gauge in self.gauges:
            yield GaugeMetricFamily(gauge.name, gauge.help, value=gauge.value)


def outbox_lag(seconds: float) -> Measured:
    return Measured(
        "jifen_outbox_lag_seconds",
        "Age of the oldest event not yet published to Redis (0 when none waits).",
        seconds,
    )


def exposition(measured: Sequence[Measured]) -> bytes:
    """The text a scrape receives: every process's metrics, and the gauges measured for it."""
    registry = CollectorRegistry()
    registry.register(_Measured(measured))
    if multiprocess_dir() is not None:
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY) + generate_latest(registry)


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def process_exited() -> None:
    """Drop this process's live gauges (its connections and subscriptions are gone with it)."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
