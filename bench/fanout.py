"""Fan-out benchmark: thousands of WebSocket subscribers, earnPoints mutations, delivery latency.

    python bench/fanout.py                                  # 1,000 then 5,000 subscribers
    python bench/fanout.py --subscribers 5000 --events 1000 --rate 100
    python bench/fanout.py --subscription balance           # the balance subscription instead
    python bench/fanout.py --subscribers 5000 --profile     # + py-spy of the workers

For each subscriber count N, in one run:

1. Takes PostgreSQL and Redis from ``JIFEN_DATABASE_URL`` / ``JIFEN_REDIS_URL``; by default it
   (re)creates the database ``jifen_fanout`` on the local PostgreSQL (127.0.0.1:5432) and uses
   Redis database 11 on 127.0.0.1:6379 (flushed). Migrates and registers ``--members`` members
   with bulk SQL (the ``member.registered`` event included).
2. Starts a fresh ``jifen serve --workers 2`` on a loopback port (rate limits lifted, log level
   WARNING, the open-files limit raised) and reads the workers' RSS.
3. Opens N WebSocket connections (graphql-transport-ws, ``connection_init`` with a member token)
   from ``--client-processes`` processes (asyncio + ``websockets``); connection i subscribes to
   ``memberEvents`` (or ``balance``) of member ``i mod members``, so each event fans out to
   N / members subscribers. A subscriber counts as ready once its first message arrived (the
   member's latest event, replayed with ``after`` = that id - 1; or the current balance). The
   kernel spreads the connections over the workers, which share one listening socket: the split
   is read from ``/proc`` (the established sockets on the server port owned by each worker).
4. Sends ``--events`` earnPoints mutations at ``--rate`` per second (members in turn, so one
   member never has two in flight) and records, on the same machine's clock (``time.time()``),
   when each was sent and answered; each subscriber records when each message arrived. The
   delivery latency of a message is arrival - send (an upper bound of commit → client; the commit
   happens between send and answer, so arrival - answer is a lower bound, reported too).
5. Waits until every expected message arrived (or ``--drain`` seconds), closes the clients,
   stops the server and prints p50/p99/max latency, delivered messages per second, expected vs.
   received (missing, duplicated, unexpected), the CPU used by the workers and the clients, and
   the server's memory per subscriber ((RSS after connecting - RSS before) / N).

Everything listens on and talks to loopback only; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

import asyncpg

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for _path in (str(ROOT), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from ledger import (  # noqa: E402  (bench/ledger.py: shared set-up, server and profiling helpers)
    JWT_SECRET,
    STAFF_NAME,
    Server,
    asyncpg_dsn,
    load_average,
    prepare_stage,
    register_members,
    server_env,
    start_profiles,
    summarise_profiles,
)

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/jifen_fanout"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
GOAL_SUBSCRIBERS = 5_000
GOAL_P99_MS = 100.0

MEMBER_EVENTS = (
    "subscription($m: ID!, $a: ID) { memberEvents(memberId: $m, after: $a) { id type payload } }"
)
BALANCE = "subscription($m: ID!) { balance(memberId: $m) { available } }"
EARN = (
    "mutation($input: EarnPointsInput!) { earnPoints(input: $input) { __typename"
    " ... on PointsPosted { entry { id } balance { available } }"
    " ... on MutationError { code message } } }"
)

# Per client process, shared with the parent: counters it polls while waiting.
READY, FAILED, RECEIVED, ENDED = range(4)


def raise_open_files_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (children, the server among them, inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


# ---------------------------------------------------------------------------------- clients


@dataclass
class ClientJob:
    """What one client process opens: (global index, member id, token, after) per connection."""

    index: int
    url: str
    kind: str  # "memberEvents" | "balance"
    connections: list[tuple[int, int, str, int]]
    connect_concurrency: int
    compression: bool
    timeout: float


def _key(kind: str, data: dict[str, Any]) -> int | None:
    """What identifies a delivered message: the entry id (memberEvents) or the balance."""
    if kind == "balance":
        return int(data["balance"]["available"])
    event = data["memberEvents"]
    entry = event["payload"].get("entry") if event["type"] == "points.earned" else None
    return int(entry["id"]) if entry else None


async def _client_main(job: ClientJob, counters: Any, stop: MpEvent) -> dict[str, Any]:
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    gate = asyncio.Semaphore(job.connect_concurrency)
    records: list[tuple[int, int, int, float]] = []  # (connection, member, key, arrival)
    unexpected: Counter[str] = Counter()
    sockets: list[Any] = []
    query = MEMBER_EVENTS if job.kind == "memberEvents" else BALANCE

    async def one(conn_index: int, member: int, token: str, after: int) -> None:
        try:
            async with gate:
                ws = await connect(
                    job.url,
                    subprotocols=[Subprotocol("graphql-transport-ws")],
                    open_timeout=job.timeout,
                    ping_interval=None,  # the server pings; the library answers
                    close_timeout=2,
                    compression="deflate" if job.compression else None,
                )
                sockets.append(ws)
                init = {"Authorization": f"Bearer {token}"}
                await ws.send(json.dumps({"type": "connection_init", "payload": init}))
                variables: dict[str, Any] = {"m": str(member)}
                if job.kind == "memberEvents":
                    variables["a"] = str(after)
                subscribe = {"query": query, "variables": variables}
                ready = False
                while not ready:
                    message = json.loads(await asyncio.wait_for(ws.recv(), job.timeout))
                    kind = message.get("type")
                    if kind == "connection_ack":
                        await ws.send(
                            json.dumps({"id": "1", "type": "subscribe", "payload": subscribe})
                        )
                    elif kind == "ping":
                        await ws.send('{"type":"pong"}')
                    elif kind == "next" and "errors" not in message["payload"]:
                        ready = True
                    elif kind != "pong":
                        raise RuntimeError(f"while subscribing: {message}")
            counters[READY] += 1
        except Exception as exc:
            counters[FAILED] += 1
            unexpected[f"subscribe failed: {type(exc).__name__}: {str(exc)[:120]}"] += 1
            return
        try:
            async for raw in ws:
                arrived = time.time()
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "next" and "errors" not in message["payload"]:
                    key = _key(job.kind, message["payload"]["data"])
                    if key is None:
                        unexpected["other event type"] += 1
                        continue
                    records.append((conn_index, member, key, arrived))
                    counters[RECEIVED] += 1
                elif kind == "ping":
                    await ws.send('{"type":"pong"}')
                elif kind != "pong":
                    unexpected[f"{kind}: {str(message)[:160]}"] += 1
        except Exception as exc:
            if not stop.is_set():
                unexpected[f"connection lost: {type(exc).__name__}"] += 1
        if not stop.is_set():
            counters[ENDED] += 1

    tasks = [asyncio.create_task(one(*c)) for c in job.connections]
    cpu_at_ready = None
    while not stop.is_set():
        if cpu_at_ready is None and counters[READY] + counters[FAILED] >= len(job.connections):
            cpu_at_ready = _cpu_seconds()
        await asyncio.sleep(0.05)
    cpu_at_stop = _cpu_seconds()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "records": records,
        "unexpected": dict(unexpected),
        "cpu_after_ready": cpu_at_stop - (cpu_at_ready or cpu_at_stop),
        "cpu_total": cpu_at_stop,
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def client_process(
    job: ClientJob, counters: Any, stop: MpEvent, results: Any, hard_stop: float
) -> None:
    raise_open_files_limit()
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()

    async def bounded() -> dict[str, Any]:
        # The parent sets ``stop``; the deadline is only a safety net should it never come.
        async with asyncio.timeout(hard_stop):
            return await _client_main(job, counters, stop)

    try:
        result = asyncio.run(bounded())
    except BaseException as exc:  # report, never hang the parent
        result = {"records": [], "unexpected": {f"client crashed: {exc!r}": 1}}
    results.put((job.index, result))


# ----------------------------------------------------------------------------------- server


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def connections_per_worker(port: int, workers: list[int]) -> dict[int, int]:
    """Established TCP connections on the server's port, by the worker that owns the socket."""
    established: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                local_port = int(parts[1].rsplit(":", 1)[1], 16)
                if local_port == port and parts[3] == "01":  # 01 = ESTABLISHED
                    established.add(parts[9])  # the socket's inode
    split: dict[int, int] = {}
    for pid in workers:
        count = 0
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:[") and target[8:-1] in established:
                        count += 1
        split[pid] = count
    return split


# ----------------------------------------------------------------------------------- driver


@dataclass
class Sent:
    member: int
    sent: float
    answered: float = 0.0
    key: int | None = None
    error: str | None = None


@dataclass
class DriveResult:
    sent: list[Sent] = field(default_factory=list)
    seconds: float = 0.0


async def drive(
    url: str, token: str, members: list[int], *, events: int, rate: float, kind: str, run: str
) -> DriveResult:
    """``events`` earnPoints at ``rate``/s, members in turn (never two in flight for one)."""
    import httpx

    result = DriveResult()
    rng = random.Random(run)
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=30) as http:

        async def earn(i: int, record: Sent) -> None:
            body = {
                "query": EARN,
                "variables": {
                    "input": {
                        "memberId": str(record.member),
                        "amount": rng.randint(1, 100),
                        "reason": "fan-out bench",
                        "idempotencyKey": f"{run}:{i}",
                    }
                },
            }
            record.sent = time.time()
            try:
                reply = await http.post("/graphql", json=body)
                record.answered = time.time()
                data = reply.json()["data"]["earnPoints"]
                if data["__typename"] != "PointsPosted":
                    record.error = f"{data.get('code')}: {data.get('message')}"
                elif kind == "balance":
                    record.key = int(data["balance"]["available"])
                else:
                    record.key = int(data["entry"]["id"])
            except Exception as exc:
                record.answered = record.answered or time.time()
                record.error = f"{type(exc).__name__}: {exc}"[:200]

        started = time.monotonic()
        tasks = []
        for i in range(events):
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
            record = Sent(member=members[i % len(members)], sent=0.0)
            result.sent.append(record)
            tasks.append(asyncio.create_task(earn(i, record)))
        await asyncio.gather(*tasks)
        result.seconds = time.monotonic() - started
    return result


# The --gc-log probe: a sitecustomize module on the server's PYTHONPATH (so it runs in the
# supervisor and in every spawned worker) that times each garbage collection and appends the
# long ones to a file per process. A diagnostic only: it changes nothing in the app.
GC_PROBE = """
import gc, os, time

_started = {}
_path = os.path.join(os.environ["BENCH_GC_LOG_DIR"], f"gc-{os.getpid()}.log")


def _probe(phase, info):
    if phase == "start":
        _started["t"] = time.perf_counter()
        return
    took = time.perf_counter() - _started.get("t", time.perf_counter())
    if took >= 0.01:
        with open(_path, "a") as log:
            log.write(f"{time.time():.3f} gen={info['generation']} ms={took * 1000:.1f} "
                      f"collected={info['collected']} objects={len(gc.get_objects())}\\n")


gc.callbacks.append(_probe)

_every = float(os.environ.get("BENCH_GC_FREEZE_SECONDS") or 0)
if _every > 0:  # the experiment: move survivors to the permanent generation now and then
    import threading

    def _freezer():
        while True:
            time.sleep(_every)
            gc.freeze()

    threading.Thread(target=_freezer, name="bench-gc-freeze", daemon=True).start()
"""


def install_gc_probe(env: dict[str, str], out: Path, freeze_every: float) -> Path:
    probe_dir, log_dir = out / "gcprobe", out / "gc"
    probe_dir.mkdir(exist_ok=True)
    log_dir.mkdir(exist_ok=True)
    (probe_dir / "sitecustomize.py").write_text(GC_PROBE.lstrip())
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(probe_dir), env.get("PYTHONPATH")]))
    env["BENCH_GC_LOG_DIR"] = str(log_dir)
    if freeze_every > 0:
        env["BENCH_GC_FREEZE_SECONDS"] = str(freeze_every)
    return log_dir


def gc_pauses(log_dir: Path, pids: list[int], since: float, until: float) -> list[str]:
    lines = []
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in (log_dir / f"gc-{pid}.log").read_text().splitlines():
                if since <= float(line.split()[0]) <= until:
                    lines.append(f"worker {pid}: {line}")
    return lines


# ------------------------------------------------------------------------------------ a run


async def latest_event_ids(url: str, member_ids: list[int]) -> dict[int, int]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT topic, max(id) AS last FROM events WHERE topic = ANY($1::text[])"
            " GROUP BY topic",
            [f"member:{m}" for m in member_ids],
        )
    finally:
        await conn.close()
    return {int(row["topic"].split(":", 1)[1]): int(row["last"]) for row in rows}


def wait_until(predicate: Any, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def run_one(
    args: argparse.Namespace,
    subscribers: int,
    env: dict[str, str],
    members: list[int],
    tokens: dict[int, str],
    staff_token: str,
    out: Path,
) -> dict[str, Any]:
    database_url = env["JIFEN_DATABASE_URL"]
    plan = [
        (i, members[i % len(members)], tokens[members[i % len(members)]])
        for i in range(subscribers)
    ]
    fanout = Counter(member for _, member, _ in plan)
    print(f"\n== {subscribers} subscribers ({args.subscription}), load {load_average()}")

    server = Server(env, args.workers, out / f"server-{subscribers}.log")
    ctx = multiprocessing.get_context("spawn")
    processes: list[Any] = []
    stop = ctx.Event()
    results_queue = ctx.Queue()
    counters = [ctx.Array("q", 4, lock=False) for _ in range(args.client_processes)]
    outcome: dict[str, Any] = {"subscribers": subscribers, "kind": args.subscription}
    try:
        server.wait_ready()
        workers = server.worker_pids()
        # Warm up (first requests, pools, relay election); not measured, nobody subscribed yet.
        asyncio.run(
            drive(
                server.url,
                staff_token,
                members,
                events=args.warmup,
                rate=args.rate,
                kind=args.subscription,
                run=f"warm{int(time.time())}:{subscribers}",
            )
        )
        time.sleep(1.0)
        latest = asyncio.run(latest_event_ids(database_url, members))
        rss_before = {pid: rss_kib(pid) for pid in workers}
        socket_split_before = connections_per_worker(server.port, workers)
        ws_url = server.url.replace("http://", "ws://") + "/graphql"
        hard_stop = args.connect_timeout + args.events / args.rate + args.drain + 120
        for p in range(args.client_processes):
            conns = [
                (i, member, token, latest.get(member, 1) - 1)
                for i, member, token in plan
                if i % args.client_processes == p
            ]
            job = ClientJob(
                p,
                ws_url,
                args.subscription,
                conns,
                args.connect_concurrency,
                not args.no_compression,
                timeout=args.connect_timeout,
            )
            process = ctx.Process(
                target=client_process,
                args=(job, counters[p], stop, results_queue, hard_stop),
                daemon=True,
            )
            process.start()
            processes.append(process)

        def total(slot: int) -> int:
            return sum(int(c[slot]) for c in counters)

        connect_started = time.monotonic()
        wait_until(lambda: total(READY) + total(FAILED) >= subscribers, args.connect_timeout)
        connect_seconds = time.monotonic() - connect_started
        ready, failed = total(READY), total(FAILED)
        print(f"   {ready} subscribed, {failed} failed, in {connect_seconds:.1f}s")
        time.sleep(1.0)
        rss_after = {pid: rss_kib(pid) for pid in workers}
        split = connections_per_worker(server.port, workers)
        print(f"   connections per worker {split} (before: {socket_split_before})")
        print(
            "   worker RSS KiB before "
            + str(rss_before)
            + " after "
            + str(rss_after)
            + f" -> {(sum(rss_after.values()) - sum(rss_before.values())) / max(ready, 1):.1f}"
            " KiB per subscriber"
        )

        cpu_before = {pid: cpu_seconds_of(pid) for pid in workers}
        drive_seconds = args.events / args.rate
        profilers = (
            start_profiles(workers, drive_seconds + 1, out, f"fanout-{subscribers}")
            if args.profile
            else []
        )
        received_before = total(RECEIVED)
        drive_started = time.monotonic()
        driven = asyncio.run(
            drive(
                server.url,
                staff_token,
                members,
                events=args.events,
                rate=args.rate,
                kind=args.subscription,
                run=f"fanout{int(time.time())}:{subscribers}",
            )
        )
        expected = sum(fanout[s.member] for s in driven.sent if s.key is not None)
        # A subscriber that failed to subscribe expects nothing; the others expect all.
        wait_until(lambda: total(RECEIVED) - received_before >= expected, args.drain, 0.02)
        drain_seconds = time.monotonic() - drive_started - driven.seconds
        cpu_after = {pid: cpu_seconds_of(pid) for pid in workers}
        if "BENCH_GC_LOG_DIR" in env:
            first_send = min(s.sent for s in driven.sent)
            pauses = gc_pauses(Path(env["BENCH_GC_LOG_DIR"]), workers, first_send, time.time())
            outcome["gc_pauses_over_10ms"] = len(pauses)
            outcome["gc_pause_max_ms"] = max(
                (float(p.split("ms=")[1].split()[0]) for p in pauses), default=0.0
            )
            print("   garbage collections >= 10 ms while driving:", *pauses[-8:], sep="\n     ")
        rss_end = {pid: rss_kib(pid) for pid in workers}
        for proc in profilers:
            proc.wait(timeout=60)
        stop.set()
        parts: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + 60
        while len(parts) < len(processes) and time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                index, part = results_queue.get(timeout=1.0)
                parts[index] = part
        outcome.update(
            analyse(driven, parts, fanout, expected, subscribers, ready, failed)
            | {
                "connect_seconds": round(connect_seconds, 1),
                "drive_seconds": round(driven.seconds, 2),
                "drain_seconds": round(drain_seconds, 2),
                "connections_per_worker": list(split.values()),
                "rss_kib_before": sum(rss_before.values()),
                "rss_kib_after_connect": sum(rss_after.values()),
                "rss_kib_after_drive": sum(rss_end.values()),
                "kib_per_subscriber": round(
                    (sum(rss_after.values()) - sum(rss_before.values())) / max(ready, 1), 1
                ),
                "worker_cpu_seconds": round(sum(cpu_after.values()) - sum(cpu_before.values()), 2),
                "worker_cpu_split": [round(cpu_after[p] - cpu_before[p], 2) for p in workers],
                "client_cpu_seconds": round(
                    sum(p.get("cpu_after_ready", 0.0) for p in parts.values()), 2
                ),
                "load_average_after": load_average(),
            }
        )
        timeline = outcome.pop("timeline")
        with (out / f"deliveries-{subscribers}.csv").open("w") as csv:
            csv.write("sent,arrived,answered,connection\n")
            csv.writelines(f"{s:.6f},{a:.6f},{w:.6f},{c}\n" for s, a, w, c in timeline)
        if args.profile:
            files = sorted(out.glob(f"fanout-{subscribers}-worker-*.txt"))
            text = summarise_profiles(files)
            (out / f"profile-fanout-{subscribers}.txt").write_text(text + "\n")
            outcome["profile"] = str(out / f"profile-fanout-{subscribers}.txt")
    finally:
        stop.set()
        for process in processes:
            process.join(timeout=20)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        server.stop()
    return outcome


def analyse(
    driven: DriveResult,
    parts: dict[int, dict[str, Any]],
    fanout: Counter[int],
    expected: int,
    subscribers: int,
    ready: int,
    failed: int,
) -> dict[str, Any]:
    sent_by_key = {(s.member, s.key): s for s in driven.sent if s.key is not None}
    mutation_errors = Counter(s.error for s in driven.sent if s.error)
    latencies: list[float] = []
    after_answer: list[float] = []
    timeline: list[tuple[float, float, float, int]] = []  # (sent, arrived, answered, connection)
    seen: set[tuple[int, int, int]] = set()
    duplicates = unmatched = 0
    last_arrival: float | None = None
    unexpected: Counter[str] = Counter()
    for part in parts.values():
        unexpected.update(part.get("unexpected", {}))
        for conn, member, key, arrived in part["records"]:
            sent = sent_by_key.get((member, key))
            if sent is None:
                unmatched += 1
                continue
            if (conn, member, key) in seen:
                duplicates += 1
                continue
            seen.add((conn, member, key))
            latencies.append(arrived - sent.sent)
            timeline.append((sent.sent, arrived, sent.answered, conn))
            after_answer.append(arrived - sent.answered)
            last_arrival = max(last_arrival or arrived, arrived)
    latencies.sort()
    after_answer.sort()
    answered = sorted(s.answered - s.sent for s in driven.sent if s.key is not None)
    first_send = min((s.sent for s in driven.sent), default=0.0)
    window = (last_arrival or first_send) - first_send
    delivered = len(latencies)
    return {
        "clients_reported": len(parts),
        "ready": ready,
        "failed": failed,
        "mutations": len(driven.sent),
        "mutation_errors": dict(mutation_errors),
        "fanout_per_event": f"{min(fanout.values())}-{max(fanout.values())}",
        "expected": expected,
        "received": delivered,
        "missing": expected - delivered,
        "duplicates": duplicates,
        "unmatched": unmatched,
        "unexpected": dict(unexpected),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p90_ms": round(percentile(latencies, 90) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "max_ms": round((latencies[-1] if latencies else 0.0) * 1000, 1),
        "after_answer_p50_ms": round(percentile(after_answer, 50) * 1000, 1),
        "after_answer_p99_ms": round(percentile(after_answer, 99) * 1000, 1),
        "mutation_p50_ms": round(percentile(answered, 50) * 1000, 1),
        "mutation_p99_ms": round(percentile(answered, 99) * 1000, 1),
        "messages_per_second": round(delivered / window, 1) if window > 0 else 0.0,
        "subscribers_ok": ready == subscribers and failed == 0,
        "timeline": sorted(timeline),
    }


# ------------------------------------------------------------------------------------- main


def print_summary(results: list[dict[str, Any]]) -> None:
    print()
    head = (
        f"{'subscribers':>11} {'kind':>12} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}"
        f" {'msg/s':>7} {'expected':>8} {'received':>8} {'missing':>7} {'KiB/sub':>7}"
        f" {'split':>11}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        split = "/".join(str(n) for n in r["connections_per_worker"])
        print(
            f"{r['subscribers']:>11} {r['kind']:>12} {r['p50_ms']:>7} {r['p99_ms']:>7}"
            f" {r['max_ms']:>7} {r['messages_per_second']:>7} {r['expected']:>8}"
            f" {r['received']:>8} {r['missing']:>7} {r['kib_per_subscriber']:>7} {split:>11}"
        )
    for r in results:
        print(
            f"\n{r['subscribers']} subscribers: {r['ready']} ready, {r['failed']} failed, "
            f"connected in {r['connect_seconds']}s; {r['mutations']} mutations in "
            f"{r['drive_seconds']}s (answer p50 {r['mutation_p50_ms']} ms, p99 "
            f"{r['mutation_p99_ms']} ms; errors {r['mutation_errors'] or 0}); "
            f"fan-out {r['fanout_per_event']} per event; duplicates {r['duplicates']}, "
            f"unmatched {r['unmatched']}; arrival - answer p50 {r['after_answer_p50_ms']} ms, "
            f"p99 {r['after_answer_p99_ms']} ms; drained {r['drain_seconds']}s after the last "
            f"answer; worker CPU {r['worker_cpu_seconds']}s {r['worker_cpu_split']} "
            f"during the drive, client CPU {r['client_cpu_seconds']}s during the drive; "
            f"RSS {r['rss_kib_before']} -> {r['rss_kib_after_connect']} -> "
            f"{r['rss_kib_after_drive']} KiB; load after {r['load_average_after']}"
        )
        if r["unexpected"]:
            print(f"  unexpected: {r['unexpected']}")
        if r["subscribers"] >= GOAL_SUBSCRIBERS:
            met = r["p99_ms"] <= GOAL_P99_MS and r["missing"] == 0 and r["subscribers_ok"]
            print(
                f"  goal ({GOAL_SUBSCRIBERS} subscribers, p99 <= {GOAL_P99_MS:.0f} ms, none "
                f"missing): {'GOAL MET' if met else 'goal not met'}"
            )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--subscribers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1000, 5000],
        help="comma-separated subscriber counts, one run each (default 1000,5000)",
    )
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--events", type=int, default=400, help="earnPoints mutations per run")
    parser.add_argument("--rate", type=float, default=20.0, help="mutations per second")
    parser.add_argument(
        "--warmup", type=int, default=20, help="mutations before subscribing (not measured)"
    )
    parser.add_argument(
        "--subscription", choices=("memberEvents", "balance"), default="memberEvents"
    )
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument(
        "--connect-concurrency", type=int, default=50, help="handshakes in flight per process"
    )
    parser.add_argument("--connect-timeout", type=float, default=180.0)
    parser.add_argument(
        "--drain", type=float, default=30.0, help="max seconds to wait for late messages"
    )
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument(
        "--no-compression",
        action="store_true",
        help="do not offer permessage-deflate (browsers offer it; the server accepts it)",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the workers while driving")
    parser.add_argument(
        "--gc-log",
        action="store_true",
        help="log the server's garbage collections of 10 ms or more (a diagnostic)",
    )
    parser.add_argument(
        "--gc-freeze",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="experiment: gc.freeze() in each server process every SECONDS (implies --gc-log)",
    )
    parser.add_argument(
        "--redis-cluster",
        type=int,
        default=0,
        metavar="MASTERS",
        help="then each count again on a local Redis Cluster of MASTERS masters (the runs on "
        "JIFEN_REDIS_URL are the baseline)",
    )
    parser.add_argument("--out", type=Path, default=None, help="server logs, results.json")
    args = parser.parse_args()
    if not all(1 <= n <= 20_000 for n in args.subscribers):
        parser.error("--subscribers: each 1..20000")
    if not 1 <= args.members <= 100_000 or not 1 <= args.events <= 100_000 or args.warmup < 1:
        parser.error("--members 1..100000, --events 1..100000, --warmup >= 1")
    if not 0.1 <= args.rate <= 5_000 or not 1 <= args.client_processes <= 64:
        parser.error("--rate 0.1..5000, --client-processes 1..64")
    if args.connect_concurrency < 1 or not 1 <= args.drain <= 600 or args.gc_freeze < 0:
        parser.error("--connect-concurrency >= 1, --drain 1..600, --gc-freeze >= 0")
    return args


def on_redis_cluster(
    args: argparse.Namespace,
    env: dict[str, str],
    members: list[int],
    tokens: dict[int, str],
    staff_token: str,
    out: Path,
) -> list[dict[str, Any]]:
    """The same runs with the server on a Redis Cluster started here (tests/redis_cluster.py:
    ``--redis-cluster`` masters on loopback, no replicas): sharded pub/sub, RedisCluster client."""
    from tests.redis_cluster import RedisClusterNodes

    cluster = RedisClusterNodes(out / "redis-cluster", masters=args.redis_cluster, replicas=0)
    cluster.start()
    print(f"\nRedis Cluster {cluster.url}")
    on_cluster = {**env, "JIFEN_REDIS_URL": cluster.url}
    results = []
    try:
        for count in args.subscribers:
            result = run_one(args, count, on_cluster, members, tokens, staff_token, out)
            result["kind"] += "@cluster"
            results.append(result)
    finally:
        cluster.stop()
    return results


def print_cluster_ratios(results: list[dict[str, Any]]) -> None:
    single = {r["subscribers"]: r for r in results if not r["kind"].endswith("@cluster")}
    print()
    for r in results:
        base = single.get(r["subscribers"])
        if not r["kind"].endswith("@cluster") or base is None:
            continue
        print(
            f"{r['subscribers']} subscribers, cluster / single Redis: p50 "
            f"{r['p50_ms'] / max(base['p50_ms'], 0.001):.2f}, p99 "
            f"{r['p99_ms'] / max(base['p99_ms'], 0.001):.2f}, worker CPU "
            f"{r['worker_cpu_seconds'] / max(base['worker_cpu_seconds'], 0.001):.2f}; missing "
            f"{r['missing']} (single {base['missing']})"
        )


def main() -> int:
    args = parse_args()
    limit = raise_open_files_limit()
    needed = max(args.subscribers) // max(1, min(args.workers, args.client_processes)) + 200
    if limit < needed:
        print(f"error: open-files limit {limit} < {needed} needed", file=sys.stderr)
        return 2
    database_url, redis_url, out, run_id = prepare_stage(
        "fanout", DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, args.out
    )
    print(f"open-files limit {limit}; load average before: {load_average()}")

    from app.auth.tokens import mint_token
    from app.config import Settings

    members = asyncio.run(register_members(database_url, args.members, run_id))
    settings = Settings(jwt_secret=JWT_SECRET, jwt_ttl_seconds=6 * 3600)
    staff_token = mint_token(settings, f"staff:{STAFF_NAME}", ["admin"])
    tokens = {m: mint_token(settings, f"member:{m}", []) for m in members}
    print(f"registered {len(members)} members")
    env = server_env(database_url, redis_url, out)
    if args.gc_log or args.gc_freeze:
        install_gc_probe(env, out, args.gc_freeze)
    results = []
    for count in args.subscribers:
        results.append(run_one(args, count, env, members, tokens, staff_token, out))
    if args.redis_cluster:
        results += on_redis_cluster(args, env, members, tokens, staff_token, out)
    print_summary(results)
    if args.redis_cluster:
        print_cluster_ratios(results)
    (out / "results.json").write_text(
        json.dumps(
            {"results": results, "args": {k: str(v) for k, v in vars(args).items()}}, indent=2
        )
        + "\n"
    )
    ok = all(r["missing"] == 0 and r["subscribers_ok"] for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
