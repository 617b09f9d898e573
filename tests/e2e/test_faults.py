"""The fault test (issue 13): a real `jifen serve` under a bounded stream of earns and spends
from concurrent clients while every PostgreSQL backend of this test database (never another
database's: the server is shared) is terminated every 2 s for 30 s. Afterwards: no
INTERNAL_SERVER_ERROR, every write answered or refused as retryable, the retried ones applied
once with their keys, balances equal to the sum of the writes, and the ledger audit clean."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.ledger.audit import audit_ledger
from tests.e2e.test_serve import serve_process

FAULT_SECONDS = 30
KILL_EVERY = 2.0
CLIENTS = 6
MEMBERS = 3
STARTING_POINTS = 100_000
MAX_WRITES_PER_CLIENT = 600  # bounds the stream whatever the machine's speed

WRITE = """mutation($m: ID!, $a: Int!, $k: String!) {
  %s(input: {memberId: $m, amount: $a, reason: "fault test", idempotencyKey: $k}) {
    __typename
    ... on PointsPosted { entry { id } balance { available } }
    ... on MutationError { code message } } }"""


@dataclass
class Write:
    mutation: str  # earnPoints or spendPoints
    member: str
    amount: int
    key: str
    outcome: str = ""  # "posted", an error code, or "transport"

    @property
    def signed(self) -> int:
        return self.amount if self.mutation == "earnPoints" else -self.amount


@pytest.fixture
def server(settings: Settings, clean_state: None) -> Iterator[tuple[str, str]]:
    # Rate budgets lifted: this test is about faults, not budgets.
    with serve_process(settings, JIFEN_RATE_LIMIT_STAFF="1000000/minute") as (base, tokens):
        yield base, tokens["staff"]


async def send(client: httpx.AsyncClient, write: Write) -> str:
    """The write's outcome: "posted", a MutationError's code, a GraphQL error's code, or
    "transport" (no answer at all)."""
    try:
        response = await client.post(
            "/graphql",
            json={
                "query": WRITE % write.mutation,
                "variables": {"m": write.member, "a": write.amount, "k": write.key},
            },
        )
    except httpx.TransportError:
        return "transport"
    body: dict[str, Any] = response.json()
    if body.get("errors"):
        return str(body["errors"][0].get("extensions", {}).get("code"))
    result = body["data"][write.mutation]
    return "posted" if result["__typename"] == "PointsPosted" else str(result["code"])


async def stream_of_writes(
    client: httpx.AsyncClient, members: list[str], number: int, stop: asyncio.Event
) -> list[Write]:
    writes: list[Write] = []
    while not stop.is_set() and len(writes) < MAX_WRITES_PER_CLIENT:
        i = len(writes)
        write = Write(
            "earnPoints" if i % 2 == 0 else "spendPoints",
            members[(number + i) % len(members)],
            10 if i % 2 == 0 else 7,
            f"fault-{number}-{i}",
        )
        write.outcome = await send(client, write)
        writes.append(write)
    return writes


async def terminate_backends_every(killer: asyncpg.Connection, stop: asyncio.Event) -> int:
    """Terminate this database's backends (but the killer's own) every KILL_EVERY seconds until
    FAULT_SECONDS have passed; returns how many backends were terminated."""
    terminated = 0
    loop = asyncio.get_running_loop()
    until = loop.time() + FAULT_SECONDS
    while loop.time() < until:
        await asyncio.sleep(KILL_EVERY)
        terminated += len(
            await killer.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    stop.set()
    return terminated


async def balances(client: httpx.AsyncClient, members: list[str]) -> dict[str, int]:
    fields = " ".join(f'm{m}: member(id: "{m}") {{ balance {{ available }} }}' for m in members)
    body = (await client.post("/graphql", json={"query": "{ " + fields + " }"})).json()
    assert "errors" not in body, body
    return {m: body["data"][f"m{m}"]["balance"]["available"] for m in members}


async def register(client: httpx.AsyncClient, ref: str) -> str:
    body = (
        await client.post(
            "/graphql",
            json={
                "query": """mutation($r: String!) {
                  registerMember(input: {channel: "pos", externalRef: $r}) {
                    ... on MemberRegistered { member { id } } } }""",
                "variables": {"r": ref},
            },
        )
    ).json()
    member_id: str = body["data"]["registerMember"]["member"]["id"]
    return member_id


@pytest.mark.e2e
async def test_terminated_backends_every_two_seconds_cost_no_write_and_no_point(
    server: tuple[str, str], settings: Settings, engine: AsyncEngine
) -> None:
    base, staff = server
    headers = {"Authorization": f"Bearer {staff}"}
    url = str(settings.database_url).replace("postgresql+asyncpg://", "postgresql://")
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        members = [await register(client, f"fault-{i}") for i in range(MEMBERS)]
        for member in members:
            start = Write("earnPoints", member, STARTING_POINTS, f"start-{member}")
            assert await send(client, start) == "posted"

        killer = await asyncpg.connect(url)
        try:
            stop = asyncio.Event()
            killing = asyncio.create_task(terminate_backends_every(killer, stop))
            streams = await asyncio.gather(
                *(stream_of_writes(client, members, n, stop) for n in range(CLIENTS))
            )
            terminated = await killing
        finally:
            await killer.close()

        writes = [write for stream in streams for write in stream]
        outcomes = Counter(write.outcome for write in writes)
        print(f"\n{len(writes)} writes, {terminated} backends terminated: {dict(outcomes)}")
        assert terminated > 0
        assert "INTERNAL_SERVER_ERROR" not in outcomes, outcomes
        # Every write is answered or refused as retryable (nothing else is expected here).
        assert set(outcomes) <= {"posted", "UNAVAILABLE", "transport"}, outcomes

        # The client re-sends each unanswered write with its key: applied at most once.
        for write in writes:
            if write.outcome != "posted":
                write.outcome = await send(client, write)
        assert all(write.outcome == "posted" for write in writes)

        expected = dict.fromkeys(members, STARTING_POINTS)
        for write in writes:
            expected[write.member] += write.signed
        assert await balances(client, members) == expected

    report = await audit_ledger(engine, datetime.now(UTC), settings.negative_balance_policy)
    assert report.ok, report.render()
