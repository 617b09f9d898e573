"""Webhook delivery benchmark: events committed through the API at a fixed rate, delivered by
``jifen worker`` to a real local receiver; throughput, commit → receipt latency, isolation of a
slow and a failing endpoint, and the drain of a backlog after a receiver outage.

    python bench/webhooks.py                                  # 50 earns/s for 30 s, 10 endpoints
    python bench/webhooks.py --rate 100 --duration 30 --outage 300
    python bench/webhooks.py --direct --rate 1000 --outage 0  # events straight to the outbox
    python bench/webhooks.py --api-batch 100 --rate 1000 --outage 0  # 10 earnPointsBatch/s

In one run:

1. Takes PostgreSQL and Redis from ``JIFEN_DATABASE_URL`` / ``JIFEN_REDIS_URL`` (its webhook
   tables emptied), else (re)creates ``jifen_webhooks_bench`` and flushes Redis database 12.
   Migrates and registers ``--members`` members with bulk SQL. Its worker's projectors write
   leaderboards to that Redis database: never give it one a test run is using.
2. Starts the receiver (this file, ``--receiver``: Starlette on uvicorn, one process): each
   endpoint is a path ``/ep/<name>``; it verifies every signature with the ``standardwebhooks``
   library, records (endpoint, webhook-id, arrival ``time.time()``) and answers as the bench
   tells it (200, 500, 503, or 200 after a delay). Starts ``jifen serve --workers 1`` (the API,
   no delivery) and ``--senders`` (1) ``jifen worker`` processes (delivery; jobs off; their CPU
   is added up as the worker's).
3. **Baseline** — the receiver hit directly: the bench signs (standardwebhooks) and POSTs
   ``--baseline-messages`` bodies with aiohttp at the worker's concurrency (64): the cost of
   signing + POST + receiving on this machine, without Jifen.
4. Phases, each open-loop: ``earnPoints`` sent at ``--rate`` per second for ``--duration`` s
   (a request starts on schedule whether or not the earlier ones were answered):
   - ``no webhooks``: no endpoint (the API's own latency: the reference for the next ones);
   - ``10 endpoints``: ``--endpoints`` endpoints subscribed to ``points.earned``: with
     ``--scope channel`` (the default) each a partner's, scoped to its own channel, the members
     spread over the channels (each event to one endpoint: the issue's coalition set-up); with
     ``--scope all`` staff endpoints that each get every event (ten deliveries an event);
   - ``slow + failing``: the same number, one answering after ``--slow-ms``, one answering 500
     (skipped with ``--no-isolation``);
   - ``outage``: every endpoint answers 503 for ``--outage`` s while events keep coming; then
     the receiver is back, staff re-enable the endpoints (``updateWebhookEndpoint``: a fresh
     start, their pending messages due at once) and the backlog drains.
   With ``--direct`` the events are not sent through the API: the bench commits them to the
   outbox itself, ``--batch`` per transaction, at ``--rate`` events a second (open loop), to
   measure the delivery pipeline past what the API can post on this machine. With
   ``--api-batch N`` they go through the API as ``earnPointsBatch`` requests of N earns each
   (``--rate`` / N requests a second, every phase, ``no webhooks`` included): an earn's send
   and answer are its request's.
   Commit → receipt is measured on the machine's one clock: arrival - the API's answer (the
   commit happened before the answer: a lower bound) and arrival - the request's send (an upper
   bound). Deliveries are matched to requests by entry id (``data.entry.id``).
5. Prints per phase: the API's p50/p99, deliveries/s, commit → receipt p50/p99/max, expected vs.
   delivered (missing, duplicates with the same webhook-id), bad signatures, the most PostgreSQL
   connections of the database seen at once, and the ratios to the baselines.

Everything listens on and talks to loopback only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for _path in (str(ROOT), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from ledger import (  # noqa: E402  (bench/ledger.py: shared set-up and server helpers)
    Server,
    Stage,
    asyncpg_dsn,
    free_port,
    load_average,
    prepare_stage,
    register_members,
    server_env,
)

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/jifen_webhooks_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
GOAL_P99_MS = 250.0
GOAL_API_RATIO = 1.2
DIRECT_ENTRY_IDS = 10**15

EARN = (
    "mutation($input: EarnPointsInput!) { earnPoints(input: $input) { __typename"
    " ... on PointsPosted { entry { id } } ... on MutationError { code message } } }"
)
EARN_BATCH = (
    "mutation($items: [EarnPointsInput!]!) { earnPointsBatch(input: {items: $items}) {"
    " __typename ... on MutationError { code message } ... on EarnBatchPosted { results {"
    " __typename ... on PointsPosted { entry { id } } ... on MutationError { code } } } } }"
)
CREATE = (
    "mutation($url: String!, $channel: String) { createWebhookEndpoint(input: {url: $url,"
    ' eventTypes: ["points.earned"], channel: $channel}) { __typename'
    " ... on WebhookSecretPayload { secret endpoint { id } } ... on MutationError { message } } }"
)
ENABLE = (
    "mutation($e: ID!, $on: Boolean!) { updateWebhookEndpoint(input: {endpointId: $e,"
    " enabled: $on}) { __typename ... on MutationError { message } } }"
)


# ---------------------------------------------------------------------------------- receiver


def run_receiver(port: int) -> None:
    """The receiver process: verify, record, answer as told (``POST /control``)."""
    import uvicorn
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    secrets: dict[str, Webhook] = {}
    behaviour: dict[str, dict[str, Any]] = {}
    receipts: list[tuple[str, str, float, int, str]] = []  # name, id, at, status, entry id
    bad = Counter[str]()
    # Distinct (endpoint, entry) answered 2xx, counted as they arrive: the bench asks for these
    # counts while it waits, and reads the receipts themselves once, when the phase is over.
    seen: set[tuple[str, str]] = set()
    delivered = Counter[str]()

    async def endpoint(request: Request) -> Response:
        name = request.path_params["name"]
        body = await request.body()
        arrived = time.time()
        told = behaviour.get(name) or behaviour.get("*") or {}
        status = int(told.get("status", 200))
        hook = secrets.get(name)
        try:
            if hook is None:
                raise WebhookVerificationError("no secret")
            hook.verify(body, dict(request.headers))
        except WebhookVerificationError:
            bad[name] += 1
            return Response(b"bad signature", status_code=400)
        if told.get("delay"):
            await asyncio.sleep(float(told["delay"]))
        entry = str(json.loads(body)["data"].get("entry", {}).get("id", ""))
        receipts.append((name, request.headers["webhook-id"], arrived, status, entry))
        if status < 300 and (name, entry) not in seen:
            seen.add((name, entry))
            delivered[name] += 1
        return Response(b"ok" if status < 300 else b"no", status_code=status)

    async def control(request: Request) -> Response:
        told = await request.json()
        for name, secret in told.get("secrets", {}).items():
            secrets[name] = Webhook(secret)
        if "behaviour" in told:
            behaviour.clear()
            behaviour.update(told["behaviour"])
        return JSONResponse({"ok": True})

    async def read(request: Request) -> Response:
        start = int(request.query_params.get("from", 0))
        return JSONResponse({"receipts": receipts[start:], "bad": dict(bad)})

    async def progress(request: Request) -> Response:
        names = request.query_params.get("names", "").split(",")
        return JSONResponse({"delivered": sum(delivered[name] for name in names)})

    app = Starlette(
        routes=[
            Route("/ep/{name}", endpoint, methods=["POST"]),
            Route("/control", control, methods=["POST"]),
            Route("/receipts", read, methods=["GET"]),
            Route("/progress", progress, methods=["GET"]),
        ]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", backlog=1024)


class ReceiverProcess:
    def __init__(self, out: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = (out / "receiver.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--receiver", str(self.port)],
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    async def wait_ready(self, client: Any) -> None:
        for _ in range(100):
            with contextlib.suppress(Exception):
                await client.get(f"{self.url}/receipts?from=0")
                return
            await asyncio.sleep(0.1)
        raise SystemExit("the receiver did not start")

    async def tell(self, client: Any, **told: Any) -> None:
        (await client.post(f"{self.url}/control", json=told)).raise_for_status()

    async def receipts(self, client: Any, start: int) -> tuple[list[list[Any]], dict[str, int]]:
        data = (await client.get(f"{self.url}/receipts?from={start}", timeout=60)).json()
        return data["receipts"], data["bad"]

    async def delivered(self, client: Any, names: list[str]) -> int:
        """Distinct (endpoint, entry) delivered to ``names`` so far: a constant-size answer."""
        reply = await client.get(f"{self.url}/progress", params={"names": ",".join(names)})
        return int(reply.json()["delivered"])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


class Worker:
    """``jifen worker``: the relay, the projectors and webhook delivery (jobs off)."""

    def __init__(self, env: dict[str, str], out: Path, name: str = "worker") -> None:
        self._log = (out / f"{name}.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


def partner_channel(k: int) -> str:
    return f"partner{k}"


async def link_partners(database_url: str, channel_index: dict[int, int], run_id: str) -> None:
    """Link each member to its partner's channel too (as a coalition partner's enrolment does)."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute(
            "WITH r AS (INSERT INTO member_channel_refs (member_id, channel, external_ref,"
            " created_at) SELECT m, c, $3 || m, now() FROM unnest($1::bigint[], $2::text[])"
            " AS t(m, c) RETURNING member_id, channel, external_ref)"
            # each ref claimed across members, as a link does (app/members/claims.py)
            " INSERT INTO outside_keys (kind, scope, ref, member_id)"
            " SELECT 'channel_ref', channel, external_ref, member_id FROM r",
            list(channel_index),
            [partner_channel(k) for k in channel_index.values()],
            f"{run_id}-",
        )
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------- figures


def cpu_seconds(pid: int, descendants: bool = True) -> float:
    """CPU time (user + system) of a process and its living descendants so far (/proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
            for task in Path(f"/proc/{current}/task").iterdir() if descendants else []:
                todo.extend(int(child) for child in (task / "children").read_text().split())
    return total


async def on_schedule(
    count: int, interval: float, one: Callable[[int], Coroutine[Any, Any, None]]
) -> None:
    """Open loop: ``one(i)`` starts at t0 + i * interval whatever became of the earlier ones;
    returns when every one has finished."""
    start = time.perf_counter()
    tasks: list[asyncio.Task[None]] = []
    for i in range(count):
        delay = start + i * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


@dataclass
class Sent:
    sent: float
    member: int = 0
    answered: float = 0.0
    entry: str | None = None
    error: str | None = None


@dataclass
class Phase:
    name: str
    sent: list[Sent] = field(default_factory=list)
    endpoints: dict[str, str] = field(default_factory=dict)  # name -> endpoint id
    names: list[str] = field(default_factory=list)  # the endpoints, in channel order
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds in the phase
    figures: dict[str, Any] = field(default_factory=dict)

    def api(self) -> tuple[float, float, int]:
        ok = [(s.answered - s.sent) * 1000 for s in self.sent if s.entry]
        return percentile(ok, 50), percentile(ok, 99), sum(1 for s in self.sent if not s.entry)


# ---------------------------------------------------------------------------------- the bench


class Bench:
    def __init__(self, args: argparse.Namespace, stage: Stage) -> None:
        self.args = args
        self.stage = stage
        self.members: list[int] = []
        self.peak_connections = 0
        self.baseline_cpu_ms = float("nan")
        self.database_url = ""
        # --direct: entry ids no ledger entry has (the projectors join them to nothing)
        self.direct_ids = itertools.count(DIRECT_ENTRY_IDS)
        self.channel_index: dict[int, int] = {}  # member -> its partner channel's endpoint

    async def graphql(self, client: Any, query: str, variables: dict[str, Any]) -> Any:
        reply = await client.post(
            f"{self.server.url}/graphql",
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {self.staff}"},
            timeout=30,
        )
        return reply.json()

    async def earn(self, session: Any, variables: dict[str, Any], query: str = EARN) -> Any:
        """One ``earnPoints`` (or ``earnPointsBatch``) of the load, with aiohttp: httpx's pool
        (httpcore) scans every connection for every request it places, so with thousands of
        requests queued at 1,000/s the bench itself spent its time there and stopped sending (a
        run stalled so)."""
        async with session.post(
            f"{self.server.url}/graphql",
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {self.staff}"},
        ) as reply:
            return await reply.json()

    async def drive(self, client: Any, phase: Phase, seconds: float) -> None:
        """Open loop: request i starts at t0 + i / rate, whatever became of the others."""
        if self.args.direct:
            await self.commit_directly(phase, seconds)
            return
        if self.args.api_batch:
            await self.drive_batches(phase, seconds)
            return
        import aiohttp

        rate = self.args.rate
        count = int(rate * seconds)

        async def one(i: int) -> None:
            member = self.members[i % len(self.members)]
            key = f"{phase.name}-{i}-{time.time_ns()}"
            record = Sent(time.time(), member)
            phase.sent.append(record)
            try:
                body = await self.earn(
                    session,
                    {
                        "input": {
                            "memberId": str(member),
                            "amount": 1,
                            "reason": "bench",
                            "idempotencyKey": key,
                        }
                    },
                )
                record.answered = time.time()
                result = body["data"]["earnPoints"]
                if result["__typename"] == "PointsPosted":
                    record.entry = str(result["entry"]["id"])
                else:
                    record.error = result.get("code")
            except Exception as error:  # counted, not fatal
                record.answered = time.time()
                record.error = type(error).__name__

        connector = aiohttp.TCPConnector(limit=self.args.connections)
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await on_schedule(count, 1 / rate, one)

    async def drive_batches(self, phase: Phase, seconds: float) -> None:
        """``--api-batch N``: the same events through the API, N earns an ``earnPointsBatch``.
        Open loop: request i starts at t0 + i * N / rate whatever became of the others; each
        earn is recorded with its request's send and answer (the API's p99 is the batch
        request's)."""
        import aiohttp

        size, rate = self.args.api_batch, self.args.rate
        count = int(rate * seconds / size)

        async def one(i: int) -> None:
            members = [self.members[(i * size + k) % len(self.members)] for k in range(size)]
            stamp = time.time_ns()
            items = [
                {
                    "memberId": str(member),
                    "amount": 1,
                    "reason": "bench",
                    "idempotencyKey": f"{phase.name}-{i}-{k}-{stamp}",
                }
                for k, member in enumerate(members)
            ]
            records = [Sent(time.time(), member) for member in members]
            phase.sent.extend(records)
            try:
                body = await self.earn(session, {"items": items}, EARN_BATCH)
                answered = time.time()
                result = body["data"]["earnPointsBatch"]
                outcomes = result.get("results") or [result] * size
                for record, outcome in zip(records, outcomes, strict=True):
                    record.answered = answered
                    if outcome["__typename"] == "PointsPosted":
                        record.entry = str(outcome["entry"]["id"])
                    else:
                        record.error = outcome.get("code")
            except Exception as error:  # counted, not fatal
                for record in records:
                    record.answered, record.error = time.time(), type(error).__name__

        connector = aiohttp.TCPConnector(limit=self.args.connections)
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await on_schedule(count, size / rate, one)

    async def commit_directly(self, phase: Phase, seconds: float) -> None:
        """``--direct``: the delivery pipeline's own capacity, without the API in front of it.
        Open loop: transaction i starts at t0 + i * batch / rate whatever became of the others,
        and appends ``--batch`` ``points.earned`` events to the outbox (the ledger's payload,
        one member's topic each), as the ledger's commands append theirs. Sent = the
        transaction's start, answered = its commit returned."""
        from app.db import create_engine
        from app.events.outbox import member_topic
        from app.events.tables import events

        batch, rate = self.args.batch, self.args.rate
        count = int(rate * seconds / batch)
        engine = create_engine(self.database_url, pool_size=10)

        async def one(i: int) -> None:
            ids = [next(self.direct_ids) for _ in range(batch)]
            members = [self.members[(i * batch + k) % len(self.members)] for k in range(batch)]
            records = [
                Sent(time.time(), member, entry=str(entry_id))
                for entry_id, member in zip(ids, members, strict=True)
            ]
            phase.sent.extend(records)
            rows = []
            for entry_id, member in zip(ids, members, strict=True):
                rows.append(
                    {
                        "member_id": member,
                        "topic": member_topic(member),
                        "type": "points.earned",
                        "payload": {
                            "entry": {"id": entry_id, "kind": "earn", "amount": 1},
                            "balance": {"total": 1, "available": 1},
                            "member_id": member,
                        },
                    }
                )
            try:
                async with engine.begin() as conn:
                    await conn.execute(events.insert(), rows)
            except Exception as error:  # counted, not fatal
                for record in records:
                    record.entry, record.error = None, type(error).__name__
            for record in records:
                record.answered = time.time()

        try:
            await on_schedule(count, batch / rate, one)
        finally:
            await engine.dispose()

    async def make_endpoints(self, client: Any, phase: Phase, names: list[str]) -> None:
        phase.names = names
        for k, name in enumerate(names):
            url = f"{self.receiver.url}/ep/{name}"
            channel = partner_channel(k) if self.args.scope == "channel" else None
            body = await self.graphql(client, CREATE, {"url": url, "channel": channel})
            made = body["data"]["createWebhookEndpoint"]
            assert made["__typename"] == "WebhookSecretPayload", made
            phase.endpoints[name] = made["endpoint"]["id"]
            # At once: an event committed just before the endpoint was made may come next.
            await self.receiver.tell(client, secrets={name: made["secret"]})

    async def disable(self, client: Any, phase: Phase) -> None:
        for endpoint_id in phase.endpoints.values():
            await self.graphql(client, ENABLE, {"e": endpoint_id, "on": False})

    def cpu(self) -> dict[str, float]:
        return {
            "API": cpu_seconds(self.server.proc.pid),
            "worker": sum(cpu_seconds(worker.proc.pid) for worker in self.workers),
            "receiver": cpu_seconds(self.receiver.proc.pid),
            "bench": cpu_seconds(os.getpid(), descendants=False),  # the others are its children
        }

    async def sample_connections(self, stop: asyncio.Event) -> None:
        conn = await asyncpg.connect(asyncpg_dsn(self.database_url))
        try:
            while not stop.is_set():
                n = await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid()"
                )
                self.peak_connections = max(self.peak_connections, int(n))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.2)
        finally:
            await conn.close()

    async def pending(self) -> int:
        conn = await asyncpg.connect(asyncpg_dsn(self.database_url))
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM webhook_messages WHERE status = 'pending'"
                )
            )
        finally:
            await conn.close()

    def expected(self, phase: Phase, names: list[str]) -> set[tuple[str, str]]:
        """(endpoint, entry) pairs the phase's entries must reach among ``names``: every
        endpoint (``--scope all``) or the endpoint of the member's partner channel."""
        pairs: set[tuple[str, str]] = set()
        for s in phase.sent:
            if not s.entry or not phase.names:
                continue
            if self.args.scope == "all":
                pairs.update((name, s.entry) for name in phase.names)
            else:
                pairs.add((phase.names[self.channel_index[s.member]], s.entry))
        return {pair for pair in pairs if pair[0] in names}

    async def collect(
        self, client: Any, phase: Phase, start: int, names: list[str], wait: float
    ) -> tuple[list[list[Any]], dict[str, int], int]:
        """The receipts of ``names`` since ``start``, once every expected one arrived (or after
        ``wait`` s); and where the next phase's receipts start. While waiting it asks only for
        a count (a constant-size answer), so that the receiver's event loop spends its time on
        deliveries, not on serving the bench a growing list; the receipts are read once."""
        expected = len(self.expected(phase, names))
        deadline = time.monotonic() + wait
        while time.monotonic() <= deadline:
            if await self.receiver.delivered(client, names) >= expected:
                break
            await asyncio.sleep(0.5)
        got, bad = await self.receiver.receipts(client, start)
        return got, bad, start + len(got)

    def delivery_figures(
        self, phase: Phase, receipts: list[list[Any]], names: list[str], label: str
    ) -> dict[str, Any]:
        by_entry = {s.entry: s for s in phase.sent if s.entry}
        wanted = self.expected(phase, names)
        ok = [r for r in receipts if r[0] in names and r[3] < 300]
        seen = Counter((r[0], r[1]) for r in ok)
        duplicates = sum(n - 1 for n in seen.values())
        first: dict[tuple[str, str], float] = {}
        ids: dict[tuple[str, str], set[str]] = defaultdict(set)
        for name, webhook_id, at, _status, entry in ok:
            ids[name, entry].add(webhook_id)
            first[name, entry] = min(at, first.get((name, entry), at))
        arrivals = [(by_entry[e], at) for (n, e), at in first.items() if (n, e) in wanted]
        lower = [(at - sent.answered) * 1000 for sent, at in arrivals]
        upper = [(at - sent.sent) * 1000 for sent, at in arrivals]
        expected = len(wanted)
        delivered = len(wanted & first.keys())
        span = (max(first.values()) - min(first.values())) if first else 0.0
        return {
            "label": label,
            "expected": expected,
            "delivered": delivered,
            "unexpected": len(first.keys() - wanted),  # another channel's, or an old phase's
            "missing": expected - delivered,
            "duplicates": duplicates,
            "ids_per_message": max((len(v) for v in ids.values()), default=0),
            "per_s": delivered / span if span else 0.0,
            "p50_ms": percentile(lower, 50),
            "p99_ms": percentile(lower, 99),
            "max_ms": max(lower, default=float("nan")),
            "p99_upper_ms": percentile(upper, 99),
        }

    # -------------------------------------------------------------------------- phases

    async def baseline(self, client: Any) -> float:
        """Sign and POST straight to the receiver at the worker's concurrency, with the
        worker's HTTP client (aiohttp): messages/s."""
        import aiohttp
        from standardwebhooks.webhooks import Webhook

        secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        await self.receiver.tell(client, secrets={"baseline": secret})
        hook = Webhook(secret)
        body = json.dumps(
            {"type": "points.earned", "timestamp": "2026-12-04T00:00:00+00:00", "data": {}}
        )
        total = self.args.baseline_messages
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(total):
            queue.put_nowait(i)

        async def sender(session: aiohttp.ClientSession) -> None:
            from datetime import UTC, datetime

            while not queue.empty():
                i = queue.get_nowait()
                now = datetime.now(UTC)
                signature = hook.sign(f"msg_b{i}", now, body)
                headers = {
                    "webhook-id": f"msg_b{i}",
                    "webhook-timestamp": str(int(now.timestamp())),
                    "webhook-signature": signature,
                    "content-type": "application/json",
                }
                url = f"{self.receiver.url}/ep/baseline"
                async with session.post(url, data=body, headers=headers) as answer:
                    await answer.read()

        connector = aiohttp.TCPConnector(limit=self.args.concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            began = time.perf_counter()
            await asyncio.gather(*(sender(session) for _ in range(self.args.concurrency)))
            return float(total) / (time.perf_counter() - began)

    async def run_phase(
        self,
        client: Any,
        name: str,
        names: list[str],
        behaviour: dict[str, dict[str, Any]],
        measured: list[str],
        receipts_from: int,
    ) -> tuple[Phase, int]:
        phase = Phase(name)
        await self.make_endpoints(client, phase, names)
        await self.receiver.tell(client, behaviour=behaviour)
        before = self.cpu()
        await self.drive(client, phase, self.args.duration)
        got, bad, receipts_from = await self.collect(
            client, phase, receipts_from, measured, self.args.drain
        )
        phase.cpu = {k: v - before[k] for k, v in self.cpu().items()}
        phase.figures["bad_signatures"] = sum(bad.values())
        if names:
            phase.figures["deliveries"] = self.delivery_figures(phase, got, measured, "measured")
            phase.figures["receipts"] = got
        await self.disable(client, phase)
        return phase, receipts_from

    async def outage(self, client: Any, receipts_from: int) -> tuple[Phase, int]:
        phase = Phase("outage")
        names = [f"out{i}" for i in range(self.args.endpoints)]
        await self.make_endpoints(client, phase, names)
        await self.receiver.tell(client, behaviour={"*": {"status": 503}})
        began = time.monotonic()
        outage = self.args.outage
        # Events keep coming for the first --duration seconds of the outage (or all of it).
        await self.drive(client, phase, min(self.args.duration, outage))
        await asyncio.sleep(max(0.0, outage - (time.monotonic() - began)))
        backlog = await self.pending()
        await self.receiver.tell(client, behaviour={})
        back = time.time()
        for endpoint_id in phase.endpoints.values():  # staff: a fresh start, due at once
            await self.graphql(client, ENABLE, {"e": endpoint_id, "on": False})
            await self.graphql(client, ENABLE, {"e": endpoint_id, "on": True})
        before = self.cpu()
        got, bad, receipts_from = await self.collect(
            client, phase, receipts_from, names, self.args.drain + backlog / 50
        )
        phase.cpu = {k: v - before[k] for k, v in self.cpu().items()}  # the drain only
        delivered_after = [r for r in got if r[3] < 300 and r[2] >= back]
        drained_at = max((r[2] for r in delivered_after), default=back)
        figures = self.delivery_figures(phase, got, names, "outage")
        phase.figures.update(
            deliveries=figures,
            backlog=backlog,
            drain_s=drained_at - back,
            drain_per_s=len(delivered_after) / (drained_at - back) if delivered_after else 0.0,
            bad_signatures=sum(bad.values()),
        )
        await self.disable(client, phase)
        return phase, receipts_from

    async def run(self) -> int:
        import httpx

        args = self.args
        stage = self.stage
        self.database_url = stage.database_url
        conn = await asyncpg.connect(asyncpg_dsn(stage.database_url))
        try:  # a database shared with tests: start from no endpoint
            await conn.execute("TRUNCATE webhook_endpoints, webhook_cursor CASCADE")
        finally:
            await conn.close()
        self.members = await register_members(stage.database_url, args.members, stage.run_id)
        self.channel_index = {m: i % args.endpoints for i, m in enumerate(self.members)}
        if args.scope == "channel":
            await link_partners(stage.database_url, self.channel_index, stage.run_id)
        from ledger import mint_tokens

        self.staff, _ = mint_tokens(self.members, 1)
        env = server_env(
            stage.database_url,
            stage.redis_url,
            stage.out,
            JIFEN_WEBHOOK_ALLOWED_NETWORKS='["127.0.0.1/32"]',
            JIFEN_JOBS_ENABLED="false",
            JIFEN_WEBHOOK_POLL_SECONDS=str(args.poll),
            JIFEN_WEBHOOK_CONCURRENCY=str(args.concurrency),
            JIFEN_WEBHOOK_ENDPOINT_CONCURRENCY=str(args.endpoint_concurrency),
            # Pub/sub ignores the Redis database: keep off the channels of tests sharing it.
            JIFEN_EVENT_CHANNEL_PREFIX=f"jifen:{stage.run_id}:",
        )
        self.receiver = ReceiverProcess(stage.out)
        self.server = Server(env, args.workers, stage.out / "server.log")
        # Each sender process leases apart from the others (app/webhooks/leases.py).
        self.workers = [Worker(env, stage.out, f"worker{n or ''}") for n in range(args.senders)]
        stop = asyncio.Event()
        sampler = asyncio.create_task(self.sample_connections(stop))
        # Idle connections dropped before uvicorn closes them (5 s): a request on a closed one
        # failed with ReadError under load.
        limits = httpx.Limits(
            max_connections=256, max_keepalive_connections=256, keepalive_expiry=1.0
        )
        try:
            async with httpx.AsyncClient(limits=limits, timeout=60) as client:
                await self.receiver.wait_ready(client)
                await asyncio.to_thread(self.server.wait_ready)
                print(f"load average before: {load_average()}")
                before = self.cpu()
                baseline = await self.baseline(client)
                used = {k: v - before[k] for k, v in self.cpu().items()}
                self.baseline_cpu_ms = used["bench"] * 1000 / self.args.baseline_messages
                print(
                    f"baseline: sign + POST to the receiver, {args.concurrency} at once: "
                    f"{baseline:,.0f} messages/s"
                )
                receipts_from = len((await self.receiver.receipts(client, 0))[0])
                phases: list[Phase] = []
                plain, receipts_from = await self.run_phase(
                    client, "no webhooks", [], {}, [], receipts_from
                )
                phases.append(plain)
                names = [f"ep{i}" for i in range(args.endpoints)]
                ten, receipts_from = await self.run_phase(
                    client, f"{args.endpoints} endpoints", names, {}, names, receipts_from
                )
                ten.figures.pop("receipts", None)
                phases.append(ten)
                if args.isolation:
                    receipts_from = await self.isolation(client, phases, receipts_from)
                if args.outage > 0:
                    drained, receipts_from = await self.outage(client, receipts_from)
                    phases.append(drained)
                print(f"load average after: {load_average()}")
        finally:
            stop.set()
            await sampler
            for worker in self.workers:
                worker.stop()
            self.server.stop()
            self.receiver.stop()
        report(args, phases, baseline, self.baseline_cpu_ms, self.peak_connections, stage.out)
        return 0

    async def isolation(self, client: Any, phases: list[Phase], receipts_from: int) -> int:
        """The phase with a slow and a failing endpoint (the last two)."""
        args = self.args
        mixed = [f"mx{i}" for i in range(args.endpoints)]
        slow, failing = mixed[-2], mixed[-1]
        behaviour = {slow: {"delay": args.slow_ms / 1000}, failing: {"status": 500}}
        isolated, receipts_from = await self.run_phase(
            client, "slow + failing", mixed, behaviour, mixed[:-2], receipts_from
        )
        got = isolated.figures.pop("receipts")
        isolated.figures["slow"] = self.delivery_figures(isolated, got, [slow], "slow")
        isolated.figures["failing_attempts"] = sum(1 for r in got if r[0] == failing)
        phases.append(isolated)
        return receipts_from


def report(
    args: argparse.Namespace,
    phases: list[Phase],
    baseline: float,
    baseline_cpu_ms: float,
    peak: int,
    out: Path,
) -> None:
    reference = phases[0].api()[1]
    what = (
        f"events committed directly ({args.batch} a transaction; 'API' = the commit)"
        if args.direct
        else f"earns through earnPointsBatch ({args.api_batch} a request)"
        if args.api_batch
        else "earnPoints"
    )
    print(
        f"\n{args.rate}/s {what} for {args.duration} s per phase, {args.endpoints} endpoints,"
        f" scoped to {'a partner channel each' if args.scope == 'channel' else 'every member'},"
        f" {args.senders} sending process(es), worker poll {args.poll} s,"
        f" concurrency {args.concurrency} per process and"
        f" {args.endpoint_concurrency} per endpoint\n"
    )
    print(
        "| phase | API p50 ms | API p99 ms | API p99 / no webhooks | API errors | delivered /"
        " expected | dup | deliveries/s | commit→receipt p50 ms | p99 ms | max ms | p99 upper ms |"
    )
    print("| --- | " + " | ".join(["---"] * 11) + " |")
    for phase in phases:
        p50, p99, errors = phase.api()
        d = phase.figures.get("deliveries")
        row = [phase.name, f"{p50:.0f}", f"{p99:.0f}", f"{p99 / reference:.2f}", str(errors)]
        if d:
            row += [
                f"{d['delivered']:,} / {d['expected']:,}",
                str(d["duplicates"]),
                f"{d['per_s']:,.0f}",
                f"{d['p50_ms']:.0f}",
                f"{d['p99_ms']:.0f}",
                f"{d['max_ms']:.0f}",
                f"{d['p99_upper_ms']:.0f}",
            ]
        else:
            row += ["—"] * 7
        print("| " + " | ".join(row) + " |")
    print()
    for phase in phases:
        if phase.name == "slow + failing":
            s = phase.figures["slow"]
            print(
                f"slow endpoint ({args.slow_ms} ms an answer): {s['delivered']:,} / "
                f"{s['expected']:,} delivered, {s['per_s']:.1f}/s, p50 {s['p50_ms']:.0f} ms;"
                f" failing endpoint (500): {phase.figures['failing_attempts']} attempts"
            )
        if phase.name == "outage":
            f = phase.figures
            print(
                f"outage {args.outage} s: backlog {f['backlog']:,} messages, drained in"
                f" {f['drain_s']:.1f} s = {f['drain_per_s']:,.0f} deliveries/s"
                f" ({f['drain_per_s'] / baseline:.2f} of the baseline)"
            )
        d = phase.figures.get("deliveries")
        if d and d["unexpected"]:
            print(f"{phase.name}: {d['unexpected']} deliveries no endpoint should have had")
        if phase.figures.get("bad_signatures"):
            print(f"{phase.name}: {phase.figures['bad_signatures']} bad signatures")
    print(
        f"baseline (sign + POST with aiohttp, {args.concurrency} at once):"
        f" {baseline:,.0f} messages/s, {baseline_cpu_ms:.2f} ms CPU a message in the sender"
    )
    for phase in phases:
        if phase.cpu:
            used = ", ".join(f"{k} {v:.1f}" for k, v in phase.cpu.items())
            d = phase.figures.get("deliveries")
            per = ""
            if d and d["delivered"]:
                per = (
                    f"; worker {phase.cpu['worker'] * 1000 / d['delivered']:.1f} ms CPU a delivery"
                )
            print(f"CPU seconds, {phase.name}: {used}{per}")
    print(f"most connections to the database at once (API + worker + bench): {peak}")
    goal = phases[1].figures.get("deliveries", {})
    print(
        f"goals: p99 commit→receipt ≤ {GOAL_P99_MS:.0f} ms: {goal.get('p99_ms', 0):.0f} ms;"
        f" API p99 ≤ {GOAL_API_RATIO} x without webhooks: {phases[1].api()[1] / reference:.2f} x"
    )
    (out / "results.json").write_text(
        json.dumps(
            {
                "args": vars(args) | {"out": str(out)},
                "baseline_per_s": baseline,
                "baseline_cpu_ms": baseline_cpu_ms,
                "peak_connections": peak,
                "phases": [{"name": p.name, "api": p.api(), "figures": p.figures} for p in phases],
            },
            indent=2,
            default=str,
        )
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=50.0, help="earnPoints per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per phase")
    parser.add_argument(
        "--direct",
        action="store_true",
        help="commit the events straight to the outbox, not through the API",
    )
    parser.add_argument("--batch", type=int, default=10, help="--direct: events a transaction")
    parser.add_argument(
        "--api-batch",
        type=int,
        default=0,
        help="through the API, this many earns an earnPointsBatch request (--rate stays earns"
        " a second); 0: one earnPoints a request",
    )
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument(
        "--scope",
        choices=["channel", "all"],
        default="channel",
        help="channel: each endpoint a partner's, scoped to its own channel (members spread"
        " over them: each event to one endpoint); all: staff endpoints, each event to every one",
    )
    parser.add_argument(
        "--no-isolation",
        dest="isolation",
        action="store_false",
        help="skip the phase with a slow and a failing endpoint",
    )
    parser.add_argument("--members", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=1, help="jifen serve workers")
    parser.add_argument(
        "--connections", type=int, default=128, help="the load's connections to the API"
    )
    parser.add_argument("--poll", type=float, default=0.25, help="JIFEN_WEBHOOK_POLL_SECONDS")
    parser.add_argument("--concurrency", type=int, default=64, help="JIFEN_WEBHOOK_CONCURRENCY")
    parser.add_argument("--senders", type=int, default=1, help="jifen worker processes")
    parser.add_argument(
        "--endpoint-concurrency", type=int, default=16, help="JIFEN_WEBHOOK_ENDPOINT_CONCURRENCY"
    )
    parser.add_argument("--slow-ms", type=int, default=2_000)
    parser.add_argument("--outage", type=float, default=60.0, help="seconds; 0: none")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds to wait for the rest")
    parser.add_argument("--baseline-messages", type=int, default=5_000)
    parser.add_argument("--out", type=Path)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.receiver:
        run_receiver(args.receiver)
        return 0
    stage = prepare_stage("webhooks", DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, args.out)
    return asyncio.run(Bench(args, stage).run())


if __name__ == "__main__":
    sys.exit(main())
