"""Read replicas: what a balance query costs on the primary and on a streaming replica, and what
read-your-writes adds to a mutation (docs/SCALING.md, "Read replicas"; figures in
docs/PERFORMANCE.md).

    JIFEN_DATABASE_URL=… JIFEN_REDIS_URL=… .venv/bin/python bench/replicas.py [--requests 400]

It migrates the database, makes a streaming replica of its server (tests/pg_replica.py:
``pg_basebackup -R`` and a second ``postgres``), then runs the app in this process twice — without
replicas, then with ``JIFEN_DATABASE_REPLICA_URLS`` naming the replica — and times, one request
at a time through the ASGI app: ``earnPoints`` (staff, one member in turn of 50), then
``member { balance }`` read by members who did not just write (replica) and by the member who
did (read-your-writes: the primary until the replica has replayed the write).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.auth.tokens import mint_token
from app.clock import system_clock
from app.config import Settings
from app.migrate import upgrade
from app.web import create_app
from tests.metricsamples import sample
from tests.pg_replica import StreamingReplica, primary_of

SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
MEMBERS = 50
EARN = """mutation($m: ID!, $k: String!) { earnPoints(input: {memberId: $m, amount: 1,
  reason: "bench", idempotencyKey: $k}) { __typename } }"""
BALANCE = "query($m: ID!) { member(id: $m) { balance { available } } }"
REGISTER = """mutation($r: String!) { registerMember(input: {channel: "pos", externalRef: $r}) {
  ... on MemberRegistered { member { id } } } }"""


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms"


async def timed(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str
) -> float:
    started = time.perf_counter()
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    elapsed = time.perf_counter() - started
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return elapsed


def reads(target: str, reason: str) -> float:
    return sample("jifen_db_reads_total", target=target, reason=reason)


async def run(settings: Settings, label: str, requests: int, run_id: str) -> None:
    app = create_app(settings, system_clock)
    staff = mint_token(settings, "staff:bench", ["admin"])
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client,
    ):
        members = []
        for i in range(MEMBERS):
            response = await client.post(
                "/graphql",
                json={"query": REGISTER, "variables": {"r": f"{run_id}-{label}-{i}"}},
                headers={"Authorization": f"Bearer {staff}"},
            )
            members.append(response.json()["data"]["registerMember"]["member"]["id"])
        tokens = {m: mint_token(settings, f"member:{m}", []) for m in members}
        await asyncio.sleep(1)  # let a replica catch up with the registrations

        before = {key: reads(*key) for key in [("replica", "fresh"), ("primary", "behind_write")]}
        earns, others, own = [], [], []
        for i in range(requests):
            writer = members[i % MEMBERS]
            earns.append(
                await timed(client, EARN, {"m": writer, "k": f"{run_id}-{label}-{i}"}, staff)
            )
            own.append(await timed(client, BALANCE, {"m": writer}, tokens[writer]))
            reader = members[(i + MEMBERS // 2) % MEMBERS]
            others.append(await timed(client, BALANCE, {"m": reader}, tokens[reader]))
        routed = {f"{t}/{r}": reads(t, r) - n for (t, r), n in before.items()}
        print(f"{label}: earnPoints {percentiles(earns)}")
        print(f"{label}: balance, member who just earned {percentiles(own)}")
        print(f"{label}: balance, other members {percentiles(others)}")
        print(f"{label}: reads routed {routed}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    base = Settings(jwt_secret=SECRET, jobs_enabled=False, log_level="WARNING", log_json=False)
    assert base.database_url, "set JIFEN_DATABASE_URL (and JIFEN_REDIS_URL)"
    base = base.model_copy(
        update={"rate_limit_staff": "1000000/minute", "rate_limit_member": "1000000/minute"}
    )
    upgrade(base.database_url)
    replica = StreamingReplica(primary_of(base.database_url))
    replica.create()
    run_id = f"{time.time():.0f}"
    try:
        asyncio.run(run(base, "primary only", args.requests, run_id))
        with_replica = base.model_copy(
            update={"database_replica_urls": [replica.url()], "replica_check_seconds": 1.0}
        )
        asyncio.run(run(with_replica, "with a replica", args.requests, run_id))
    finally:
        replica.remove()


if __name__ == "__main__":
    main()
