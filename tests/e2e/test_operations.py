"""A real `jifen serve` as an operator sees it: /metrics across workers, the production profile."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.auth.tokens import mint_token
from app.config import Settings
from tests.e2e.test_serve import STARTUP_SECONDS, free_port, graphql, interrupt, wait_ready
from tests.eventually import eventually_blocking

SECRET = "e2e-secret-that-is-long-enough-for-hs256-0123456789"
METRICS_TOKEN = "scrape-me-0123456789"
JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")

pytestmark = pytest.mark.e2e


@dataclass
class Served:
    base: str
    output: Path  # stdout and stderr together

    def text(self) -> str:
        return self.output.read_text(errors="replace")


@contextmanager
def running(
    settings: Settings, tmp_path: Path, env: dict[str, str], *command: str
) -> Iterator[Path]:
    """``jifen <command>`` with ``env`` added, until the block ends (then SIGINT); its output
    (stdout and stderr) goes to the file yielded."""
    output = tmp_path / f"{command[0]}-{free_port()}.log"
    full_env = {
        **os.environ,
        "JIFEN_DATABASE_URL": str(settings.database_url),
        "JIFEN_REDIS_URL": str(settings.redis_url),
        "JIFEN_JWT_SECRET": SECRET,
        **env,
    }
    full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *command],
            env=full_env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            yield output
        finally:
            interrupt(process)


@contextmanager
def serving(
    settings: Settings, tmp_path: Path, env: dict[str, str], *args: str
) -> Iterator[Served]:
    """`jifen serve` on a free port with ``env`` added, until the block ends."""
    port = free_port()
    with running(settings, tmp_path, env, "serve", "--port", str(port), *args) as output:
        yield Served(f"http://127.0.0.1:{port}", output)


def scrape(base: str, token: str | None = METRICS_TOKEN) -> dict[tuple[str, frozenset[Any]], float]:
    """Every sample of /metrics: (name, labels) → value."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{base}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[Any]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def series(samples: dict[tuple[str, frozenset[Any]], float], name: str) -> list[float]:
    return [v for (n, _), v in samples.items() if n == name]


EARN = """mutation MetricsEarn($m: ID!, $a: Int!, $k: String!) {
  earnPoints(input: {memberId: $m, amount: $a, reason: "metrics", idempotencyKey: $k}) {
    __typename ... on MutationError { code } } }"""


def earn(base: str, token: str, member_id: str, amount: int, key: str) -> str:
    response = httpx.post(
        f"{base}/graphql",
        json={"query": EARN, "variables": {"m": member_id, "a": amount, "k": key}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()["data"]["earnPoints"]
    return str(payload.get("code", payload["__typename"]))


def test_metrics_from_two_workers_count_what_was_done(
    settings: Settings, clean_state: None, tmp_path: Path
) -> None:
    env = {"JIFEN_METRICS_TOKEN": METRICS_TOKEN, "JIFEN_LOG_LEVEL": "WARNING"}
    with serving(settings, tmp_path, env, "--workers", "2", "--no-migrate", "--no-seed") as served:
        wait_ready(served.base)
        # Both workers up: each reports its relay, one of them leading.
        eventually_blocking(
            lambda: sorted(series(scrape(served.base), "jifen_relay_leader")) == [0, 1],
            within=STARTUP_SECONDS,
        )
        staff = mint_token(
            settings.model_copy(update={"jwt_secret": SECRET}), "staff:ops", ["admin"]
        )
        registered = graphql(
            served.base,
            staff,
            """mutation { registerMember(input: {channel: "pos", externalRef: "m-1"}) {
                 ... on MemberRegistered { member { id } } } }""",
        )
        member_id = registered["data"]["registerMember"]["member"]["id"]

        before = scrape(served.base)
        # Several requests, so that both workers are likely to serve some: the counts are the
        # sum over processes whichever served which.
        outcomes = [earn(served.base, staff, member_id, 10 * n, f"k-{n}") for n in (1, 2, 3, 4)]
        outcomes.append(earn(served.base, staff, member_id, -5, "k-bad"))
        outcomes.append(earn(served.base, staff, member_id, 10, "k-1"))  # a replay: no posting
        assert outcomes == ["PointsPosted"] * 4 + ["INVALID_INPUT", "PointsPosted"]
        unauthorised = httpx.get(f"{served.base}/metrics", timeout=5)
        after = scrape(served.base)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    mutation = {"operation": "MetricsEarn", "type": "mutation"}
    assert delta("jifen_graphql_operations_total", **mutation, outcome="OK") == 5
    assert delta("jifen_graphql_operations_total", **mutation, outcome="INVALID_INPUT") == 1
    assert delta("jifen_graphql_operation_duration_seconds_count", **mutation) == 6
    assert delta("jifen_ledger_postings_total", kind="earn") == 4
    assert delta("jifen_ledger_points_total", kind="earn") == 100
    assert sorted(series(after, "jifen_relay_leader")) == [0.0, 1.0]
    assert value(after, "jifen_outbox_lag_seconds") >= 0
    assert unauthorised.status_code == 401


def test_a_production_start_prints_no_token_and_serves_no_graphiql(
    settings: Settings, clean_state: None, tmp_path: Path
) -> None:
    env = {"JIFEN_ENV": "production", "JIFEN_LOG_LEVEL": "INFO"}
    with serving(settings, tmp_path, env, "--workers", "1", "--no-migrate") as served:
        wait_ready(served.base)
        page = httpx.get(f"{served.base}/graphql", headers={"Accept": "text/html"}, timeout=5)
        metrics = httpx.get(f"{served.base}/metrics", timeout=5)
        ready = httpx.get(f"{served.base}/readyz", timeout=5)
    assert "graphiql" not in page.text.lower()
    assert page.status_code >= 400
    assert metrics.status_code == 404  # no JIFEN_METRICS_TOKEN: not served
    assert ready.json() == {"status": "ready"}
    output = served.text()
    assert "Jifen is serving GraphQL" in output  # the banner ran (seeded), without tokens
    assert not JWT.search(output), output


def test_production_refuses_a_short_jwt_secret(settings: Settings, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "JIFEN_ENV": "production",
        "JIFEN_JWT_SECRET": "too-short",
        "JIFEN_DATABASE_URL": str(settings.database_url),
        "JIFEN_REDIS_URL": str(settings.redis_url),
    }
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=STARTUP_SECONDS,
    )
    assert done.returncode == 2
    assert "shorter than 32 bytes" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_worker_serves_its_metrics_on_a_port_of_its_own(
    settings: Settings, clean_state: None, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"JIFEN_METRICS_PORT": str(port), "JIFEN_METRICS_TOKEN": METRICS_TOKEN}

    def hold_timeouts_ran() -> bool:
        try:
            samples = scrape(base)
        except httpx.TransportError:
            return False  # not listening yet
        ran = (
            "jifen_job_runs_total",
            frozenset({("job", "hold-timeouts"), ("status", "succeeded")}),
        )
        return samples.get(ran, 0) >= 1

    with running(settings, tmp_path, env, "worker"):
        # Interval jobs run once at start: the worker's own runs show on its own port.
        eventually_blocking(hold_timeouts_ran, within=STARTUP_SECONDS)
        samples = scrape(base)
        refused = httpx.get(f"{base}/metrics", timeout=5)
    assert series(samples, "jifen_relay_leader") == [1.0]  # nobody else competes here
    assert refused.status_code == 401
