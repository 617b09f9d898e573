"""`jifen serve` as a real process: it migrates, seeds, prints working tokens, serves, stops."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from app.config import Settings
from tests.eventually import eventually_blocking

# A hang detector, not a speed bound: importing the app alone took 25-35 s on this 2-core
# machine while other test suites ran, and the banner comes after the demo is seeded.
STARTUP_SECONDS = 180


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def read_tokens(server: subprocess.Popen[str]) -> dict[str, str]:
    """Read the banner until both tokens are printed: {"staff": ..., "member": ...}."""
    assert server.stdout is not None
    tokens: dict[str, str] = {}
    expecting: str | None = None
    deadline = time.monotonic() + STARTUP_SECONDS
    while len(tokens) < 2 and time.monotonic() < deadline:
        line = server.stdout.readline()
        if not line:
            break
        if line.startswith("staff token"):
            expecting = "staff"
        elif line.startswith("demo member token"):
            expecting = "member"
        elif expecting and re.fullmatch(r"\s+\S+\.\S+\.\S+\s*", line):
            tokens[expecting] = line.strip()
            expecting = None
    assert len(tokens) == 2, f"banner incomplete: {tokens}"
    return tokens


def wait_ready(base: str) -> None:
    eventually_blocking(lambda: is_ready(base), within=STARTUP_SECONDS)


def is_ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def interrupt(process: subprocess.Popen[Any]) -> None:
    """Ctrl-C, as a person would; a server that does not stop within 20 s fails the test."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


@contextmanager
def serve_process(settings: Settings, **extra_env: str) -> Iterator[tuple[str, dict[str, str]]]:
    """`jifen serve --workers 2` on a free port, ready; yields its base URL and tokens."""
    port = free_port()
    env = {
        **os.environ,
        "JIFEN_DATABASE_URL": str(settings.database_url),
        "JIFEN_REDIS_URL": str(settings.redis_url),
        "JIFEN_JWT_SECRET": "e2e-secret-that-is-long-enough-for-hs256-0123456789",
        "JIFEN_LOG_LEVEL": "WARNING",
        **extra_env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        tokens = read_tokens(process)
        base = f"http://127.0.0.1:{port}"
        wait_ready(base)
        yield base, tokens
    finally:
        interrupt(process)


@pytest.fixture
def server(settings: Settings, clean_state: None) -> Iterator[tuple[str, dict[str, str]]]:
    with serve_process(settings) as served:
        yield served


def graphql(base: str, token: str, query: str) -> dict[str, Any]:
    response = httpx.post(
        f"{base}/graphql",
        json={"query": query},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body


@pytest.mark.e2e
def test_serve_seeds_the_demo_and_its_tokens_work(server: tuple[str, dict[str, str]]) -> None:
    base, tokens = server

    me = graphql(base, tokens["member"], "{ me { id balance { available pending } } }")
    member_id = me["data"]["me"]["id"]
    assert me["data"]["me"]["balance"] == {"available": 1200, "pending": 150}

    earned = graphql(
        base,
        tokens["staff"],
        f"""mutation {{ earnPoints(input: {{memberId: "{member_id}", amount: 30,
              reason: "e2e", idempotencyKey: "e2e-1"}}) {{
              ... on PointsPosted {{ balance {{ available }} }} }} }}""",
    )
    assert earned["data"]["earnPoints"]["balance"]["available"] == 1230
    assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
