"""The real-time gateway with real processes: two `jifen serve` replicas on one PostgreSQL and one
Redis; Redis restarted under a live subscription; a replica killed under one; the reference
`graphql-ws` client from npm. Every wait has a timeout; nothing sleeps for an event."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.auth.tokens import mint_token
from app.config import Settings
from app.ledger.commands import Earn
from tests.e2e.test_serve import STARTUP_SECONDS, free_port, wait_ready
from tests.npm import npm_installed
from tests.redis_server import RedisServer
from tests.wsclient import MEMBER_EVENTS, graphql_ws

SECRET = "e2e-secret-that-is-long-enough-for-hs256-0123456789"
ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = Path(__file__).resolve().parent / "node"

pytestmark = pytest.mark.e2e


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    base: str

    @property
    def ws_url(self) -> str:
        return self.base.replace("http://", "ws://") + "/graphql"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no goodbye to anyone
        self.process.wait()


class Cluster:
    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings.model_copy(update={"jwt_secret": SECRET})
        self.log_dir = log_dir
        self.replicas: list[Replica] = []

    def start(self, count: int, redis_url: str) -> list[Replica]:
        """Start ``count`` replicas at once (already migrated: no migrate, no seed)."""
        started = []
        for _ in range(count):
            port = free_port()
            env = {
                **os.environ,
                "JIFEN_DATABASE_URL": str(self.settings.database_url),
                "JIFEN_REDIS_URL": redis_url,
                "JIFEN_JWT_SECRET": SECRET,
                "JIFEN_LOG_LEVEL": "INFO",
                "JIFEN_RELAY_POLL_SECONDS": "0.2",
            }
            log = (self.log_dir / f"replica-{port}.log").open("wb")
            command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
            command += ["--workers", "1", "--no-migrate", "--no-seed"]
            process = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=log, cwd=ROOT
            )
            started.append(Replica(process, f"http://127.0.0.1:{port}"))
        self.replicas += started
        for replica in started:
            wait_ready(replica.base)
        return started

    def stop(self) -> None:
        for replica in self.replicas:
            replica.stop()

    def token(self, subject: str, roles: list[str] | None = None) -> str:
        return mint_token(self.settings, subject, roles or [])

    @property
    def staff(self) -> str:
        return self.token("staff:e2e", ["admin"])


@pytest.fixture
def cluster(settings: Settings, clean_state: None, tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(settings, tmp_path)
    try:
        yield cluster
    finally:
        cluster.stop()


def graphql(replica: Replica, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{replica.base}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def register(replica: Replica, token: str, ref: str) -> str:
    data = graphql(
        replica,
        token,
        """mutation($r: String!) { registerMember(input: {channel: "pos", externalRef: $r}) {
             ... on MemberRegistered { member { id } } } }""",
        {"r": ref},
    )
    member_id: str = data["registerMember"]["member"]["id"]
    return member_id


def earn(replica: Replica, token: str, member: str, amount: int, key: str) -> int:
    data = graphql(
        replica,
        token,
        """mutation($m: ID!, $a: Int!, $k: String!) {
             earnPoints(input: {memberId: $m, amount: $a, reason: "e2e", idempotencyKey: $k}) {
               __typename ... on PointsPosted { balance { available } } } }""",
        {"m": member, "a": amount, "k": key},
    )
    assert data["earnPoints"]["__typename"] == "PointsPosted", data
    available: int = data["earnPoints"]["balance"]["available"]
    return available


def earn_retrying(replica: Replica, token: str, member: str, amount: int, key: str) -> None:
    """Like a client after an outage: retry the same request (its idempotency key makes that
    safe) while the API's own Redis connections (the rate limiter's) recover."""
    deadline = time.monotonic() + 10
    while True:
        try:
            earn(replica, token, member, amount, key)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


async def earn_directly(settings: Settings, member: int, amount: int, key: str) -> None:
    from redis.asyncio import Redis

    from app.clock import system_clock
    from app.db import create_engine
    from app.ledger.models import Actor
    from app.ledger.usecases import earn_points
    from app.runtime import Runtime

    engine = create_engine(str(settings.database_url), pool_size=1)
    redis = Redis.from_url("redis://127.0.0.1:1/0")  # never used by the ledger
    try:
        runtime = Runtime(settings, engine, redis, system_clock)
        actor = Actor("staff:e2e", "api", frozenset({"admin"}))
        await earn_points(
            runtime, actor, Earn(member_id=member, amount=amount, reason="e2e"), idempotency_key=key
        )
    finally:
        await redis.aclose()
        await engine.dispose()


async def in_thread(call: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(call)


async def test_a_change_on_one_replica_reaches_a_subscriber_of_the_other_within_a_second(
    cluster: Cluster, settings: Settings
) -> None:
    a, b = cluster.start(2, str(settings.redis_url))
    member = await in_thread(lambda: register(a, cluster.staff, "alice"))
    async with graphql_ws(a.ws_url, token=cluster.token(f"member:{member}")) as ws:
        await ws.subscribe("1", MEMBER_EVENTS, {"m": member})
        assert (await ws.next_data("1"))["memberEvents"]["type"] == "member.registered"
        for amount in (10, 20, 30):
            started = time.monotonic()
            await in_thread(
                lambda amount=amount: earn(b, cluster.staff, member, amount, f"k{amount}")
            )
            event = (
                await ws.next_data(
                    "1",
                )
            )["memberEvents"]
            assert time.monotonic() - started < 1.0
            assert event["type"] == "points.earned"
        assert event["balance"] == {"available": 60}


async def test_after_a_redis_restart_the_subscription_delivers_again_and_misses_nothing(
    cluster: Cluster, tmp_path: Path
) -> None:
    redis_server = RedisServer(tmp_path / "redis")
    redis_server.start()
    try:
        a, b = cluster.start(2, redis_server.url)
        member = await in_thread(lambda: register(a, cluster.staff, "alice"))
        token = cluster.token(f"member:{member}")
        received: list[dict[str, Any]] = []
        async with graphql_ws(a.ws_url, token=token) as ws:
            await ws.subscribe("1", MEMBER_EVENTS, {"m": member})
            received += await ws.events("1", 1)
            await in_thread(lambda: earn(b, cluster.staff, member, 1, "r1"))
            received += await ws.events("1", 1)

            redis_server.kill()
            # Written while Redis is down: committed to the outbox, not yet published. (Through
            # the ledger's use case, as a mutation would: the API's rate limiter needs Redis.)
            for i in range(2, 5):
                await earn_directly(cluster.settings, int(member), i, f"r{i}")
            redis_server.start()
            # The replica's backend reconnects, resyncs, and the subscription replays them.
            received += await ws.events("1", 3, within=15)
            await in_thread(lambda: earn_retrying(b, cluster.staff, member, 5, "r5"))
            received += await ws.events("1", 1, within=5)
            await ws.nothing_more(0.5)

        ids = [int(e["id"]) for e in received]
        assert ids == sorted(set(ids)) and len(ids) == 6
        assert received[-1]["balance"] == {"available": 15}
        # Resuming with `after` from the first event: every later event, in order, once.
        async with graphql_ws(b.ws_url, token=token) as ws:
            await ws.subscribe("2", MEMBER_EVENTS, {"m": member, "after": str(ids[0])})
            resumed = await ws.events("2", 5)
            await ws.nothing_more(0.3)
        assert [int(e["id"]) for e in resumed] == ids[1:]
    finally:
        redis_server.kill()


async def test_a_client_resumes_on_the_other_replica_after_a_kill_and_misses_nothing(
    cluster: Cluster, settings: Settings
) -> None:
    a, b = cluster.start(2, str(settings.redis_url))
    member = await in_thread(lambda: register(b, cluster.staff, "alice"))
    token = cluster.token(f"member:{member}")
    received: list[dict[str, Any]] = []
    async with graphql_ws(a.ws_url, token=token) as ws:
        await ws.subscribe("1", MEMBER_EVENTS, {"m": member})
        received += await ws.events("1", 1)
        await in_thread(lambda: earn(b, cluster.staff, member, 1, "x1"))
        received += await ws.events("1", 1)
        a.kill()
        with pytest.raises(Exception):  # noqa: B017 - the connection is gone, however it says so
            await ws.next_data("1", within=5)
    # Meanwhile, on the other replica, life goes on.
    for i in range(2, 5):
        await in_thread(lambda i=i: earn(b, cluster.staff, member, i, f"x{i}"))
    last = received[-1]["id"]
    async with graphql_ws(b.ws_url, token=token) as ws:
        await ws.subscribe("1", MEMBER_EVENTS, {"m": member, "after": last})
        received += await ws.events("1", 3)
        await in_thread(lambda: earn(b, cluster.staff, member, 5, "x5"))
        received += await ws.events("1", 1)
        await ws.nothing_more(0.3)
    ids = [int(e["id"]) for e in received]
    assert ids == sorted(set(ids)) and len(ids) == 6
    assert received[-1]["balance"] == {"available": 15}


def node_client_dir() -> Path:
    """graphql-ws, ws and graphql from npm, installed once into .jifen/node (a cache)."""
    return npm_installed(NODE_DIR, "node", "subscribe.mjs")


async def test_the_reference_graphql_ws_client_from_npm_receives_events(
    cluster: Cluster, settings: Settings
) -> None:
    directory = await in_thread(node_client_dir)
    (a,) = cluster.start(1, str(settings.redis_url))
    member = await in_thread(lambda: register(a, cluster.staff, "alice"))
    node = await asyncio.create_subprocess_exec(
        "node",
        str(directory / "subscribe.mjs"),
        a.ws_url,
        cluster.token(f"member:{member}"),
        member,
        "3",
        cwd=directory,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert node.stdout is not None
        first = json.loads(await asyncio.wait_for(node.stdout.readline(), 15))
        assert first["type"] == "member.registered"
        await in_thread(lambda: earn(a, cluster.staff, member, 7, "n1"))
        await in_thread(lambda: earn(a, cluster.staff, member, 8, "n2"))
        lines = [json.loads(await asyncio.wait_for(node.stdout.readline(), 5)) for _ in range(2)]
        assert [line["balance"]["available"] for line in lines] == [7, 15]
        assert await asyncio.wait_for(node.wait(), 5) == 0
    finally:
        if node.returncode is None:
            node.kill()
            await node.wait()


def spawn_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"], env=env, stderr=log, cwd=ROOT
        )


async def test_jifen_worker_runs_the_relay_and_stops_cleanly(
    settings: Settings, clean_state: None, tmp_path: Path
) -> None:
    from sqlalchemy import text

    from app.db import create_engine
    from app.events.outbox import append_event

    env = {
        **os.environ,
        "JIFEN_DATABASE_URL": str(settings.database_url),
        "JIFEN_REDIS_URL": str(settings.redis_url),
        "JIFEN_LOG_JSON": "true",
        "JIFEN_RELAY_POLL_SECONDS": "0.2",
    }
    log_path = tmp_path / "worker.log"
    worker = spawn_worker(env, log_path)
    engine = create_engine(str(settings.database_url), pool_size=1)
    try:
        # A hang detector, not a timing: a loaded machine starts a worker slowly.
        deadline = time.monotonic() + STARTUP_SECONDS
        while b"relay.leading" not in log_path.read_bytes():
            assert time.monotonic() < deadline, log_path.read_text()
            assert worker.poll() is None, log_path.read_text()
            await asyncio.sleep(0.05)
        async with engine.begin() as conn:
            await append_event(conn, "member:1", "test.worker", {})
        query = text("SELECT count(*) FROM events WHERE published_at IS NULL")
        while True:
            async with engine.connect() as conn:
                if await conn.scalar(query) == 0:
                    break
            assert time.monotonic() < deadline, log_path.read_text()
            await asyncio.sleep(0.05)
    finally:
        await engine.dispose()
        worker.send_signal(signal.SIGINT)
        code = await in_thread(lambda: worker.wait(timeout=60))
    assert code == 0, log_path.read_text()
