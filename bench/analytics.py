"""Analytics benchmark: KPI queries over a big ledger, the rollups' cost on earnPoints, the
export's memory.

    python bench/analytics.py                          # 1,000,000 members, 10,000,000 entries
    python bench/analytics.py --members 100000 --entries 1000000     # a tenth

What it does, in one run (``--generate-only`` stops after step 1; ``--reuse`` skips it and
works on the database already there; ``--steps`` picks among rebuild, kpis, segments,
throughput and exports):

1. Takes PostgreSQL from ``JIFEN_DATABASE_URL``; by default it (re)creates the database
   ``jifen_bench_analytics`` on the local PostgreSQL (Redis: ``JIFEN_REDIS_URL`` or database 6,
   not flushed: nothing is written there). Migrates, then writes with bulk SQL
   (``INSERT … SELECT generate_series``):
   ``--members`` members over 400 days in 4 channels, their tiers, ``--entries`` entries over
   those days (earns of every source, spends of every use, expiries, reversals, adjustments),
   a lot for each earn (half of it left, expiring over the next 13 months), and the balances.
2. ``rebuild``: ``jifen analytics rebuild``, the rollups from the ledger (its time printed).
3. ``kpis``: each KPI query ``--runs`` times, p50 and p99 in ms (the outlook as
   ``pointsOutlook`` reads it, then the ``analytics-outlook`` job that computes it, 5 times).
   ``segments``: the RFM segmentation job three times (every member placed the first time;
   the second run finds few changes; the third is a daily run: the members' activity left as
   the day before's run left it, a day of entries to move out of the window), its time in s.
4. ``throughput``: earnPoints through the use case (``--writers`` concurrent writers,
   ``--seconds`` a phase), without the rollup projector, then with it running in another
   process (polling as in the worker; paused with SIGSTOP for the phases without),
   ``--rounds`` times in turn; each round's cost against its own phase without, and the
   median.
5. ``exports``: the balances export (every member) and a 30-day transactions export in a
   child process: rows, bytes, seconds and the child's peak RSS against its RSS before.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg

from app.ledger.commands import Earn

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/jifen_bench_analytics"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/6"
DAYS = 400
PROJECTOR_WARM_UP_SECONDS = 20.0  # its start-up (imports, connections) on a loaded box
OUTLOOK_RUNS = 5
STEPS = ("rebuild", "kpis", "segments", "throughput", "exports")

MEMBERS_SQL = """
INSERT INTO members (name, created_at, updated_at)
SELECT 'bench ' || g, now() - (g % {days}) * interval '1 day' - (g % 86400) * interval '1 second',
       now() FROM generate_series(1, {members}) AS g;
WITH r AS (
    INSERT INTO member_channel_refs (member_id, channel, external_ref, created_at)
    SELECT id, (ARRAY['wechat', 'app', 'pos', 'alipay'])[1 + id % 4], 'ref' || id, created_at
    FROM members
    RETURNING member_id, channel, external_ref
)  -- each ref claimed across members, as registration does (app/members/claims.py)
INSERT INTO outside_keys (kind, scope, ref, member_id)
SELECT 'channel_ref', channel, external_ref, member_id FROM r;
INSERT INTO accounts (kind, code, member_id) SELECT 'member', 'member:' || id, id FROM members;
INSERT INTO tier_definitions (code, name, rank, threshold, multiplier)
VALUES ('bench-a', 'A', 101, 0, 1), ('bench-b', 'B', 102, 1000, 1) ON CONFLICT DO NOTHING;
"""

# One entry in ten of each kind below; every earn gets a lot.
ENTRIES_SQL = """
INSERT INTO entries (member_id, kind, amount, balance_after, reason, source, reference, actor,
                     created_by_kind, details, created_at)
SELECT 1 + (g * 7919) % {members},
       k.kind, k.sign * (1 + g % 200), 0, 'bench', 'bench', k.reference, 'staff:bench', 'staff',
       k.details::jsonb,
       now() - (g / 10 % {days}) * interval '1 day' - (g % 86399) * interval '1 second'
FROM generate_series(1::bigint, {entries}) AS g
JOIN (VALUES
    (0, 'earn', 1, NULL, '{{"rules": []}}'), (1, 'earn', 1, NULL, '{{"engagement": "checkin"}}'),
    (2, 'earn', 1, NULL, '{{"event_id": 1, "rules": []}}'), (3, 'earn', 1, NULL, '{{}}'),
    (4, 'earn', 1, NULL, '{{"engagement": "task"}}'), (5, 'spend', -1, 'mall-order:1', '{{}}'),
    (6, 'spend', -1, 'checkout:pos:1', '{{}}'), (7, 'spend', -1, 'charity:x', '{{}}'),
    (8, 'expiry', -1, NULL, '{{}}'), (9, 'adjustment', 1, NULL, '{{}}')
) AS k(n, kind, sign, reference, details) ON k.n = g % 10;
INSERT INTO lots (account_id, member_id, entry_id, amount, remaining, pending, available_at,
                  expires_at, created_at)
SELECT a.id, e.member_id, e.id, e.amount, e.amount / 2, false, e.created_at,
       now() + (e.id % 395) * interval '1 day', e.created_at
FROM entries e JOIN accounts a ON a.member_id = e.member_id WHERE e.kind = 'earn';
UPDATE accounts a SET available = greatest(t.total, 0), debt = greatest(-t.total, 0)
FROM (SELECT member_id, sum(amount) AS total FROM entries GROUP BY member_id) AS t
WHERE a.member_id = t.member_id;
INSERT INTO member_tiers (member_id, tier_code, since, review_at, last_activity_at)
SELECT id, CASE WHEN id % 5 = 0 THEN 'bench-b' ELSE 'bench-a' END, now(), now(), now()
FROM members;
ANALYZE;
"""


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


async def cpu_seconds(dsn: str, also: int | None = None) -> float:
    """CPU used so far by this process, by the PostgreSQL backends serving the bench database
    (read from /proc: the server runs on this machine) and by the process ``also``."""
    own = sum(os.times()[:2]) + (backend_ticks(also) / CLOCK_TICKS if also else 0)
    conn = await asyncpg.connect(dsn)
    try:
        pids = [
            r["pid"]
            for r in await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()"
            )
        ]
    finally:
        await conn.close()
    return own + sum(map(backend_ticks, pids)) / CLOCK_TICKS


def backend_ticks(pid: int) -> int:
    """A process's user and system CPU, in clock ticks (0 when it ended meanwhile)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def load() -> str:
    return "load " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def generate(dsn: str, members: int, entries: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for label, sql in (("members", MEMBERS_SQL), ("entries", ENTRIES_SQL)):
            started = time.perf_counter()
            await conn.execute(sql.format(members=members, entries=entries, days=DAYS))
            print(f"generated {label} in {time.perf_counter() - started:.1f} s", flush=True)
    finally:
        await conn.close()


DSN = ""  # the bench database's, for cpu_seconds (set by main)


async def timed(label: str, runs: int, call: Callable[[], Awaitable[Any]]) -> None:
    await call()  # warm
    samples = []
    cpu = await cpu_seconds(DSN)
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    cpu = (await cpu_seconds(DSN) - cpu) / runs * 1000
    p50, p99 = statistics.median(samples), percentile(samples, 0.99)
    print(
        f"  {label:<44} p50 {p50:8.1f} ms   p99 {p99:8.1f} ms   CPU {cpu:6.1f} ms a run"
        f" (bench + PostgreSQL)   {load()}",
        flush=True,
    )


async def kpi_queries(rt: Any, runs: int) -> None:
    from app.analytics import usecases as analytics
    from app.analytics.policy import Granularity

    today = date.today()
    ask = analytics.programme_kpis
    cases: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("kpis 7 days by day", lambda: ask(rt, today - timedelta(days=6), today)),
        ("kpis 30 days by day", lambda: ask(rt, today - timedelta(days=29), today)),
        (
            "kpis 30 days by day, one channel",
            lambda: ask(rt, today - timedelta(days=29), today, channel="pos"),
        ),
        ("kpis 26 weeks by week", lambda: ask(rt, today - timedelta(days=181), today)),
        (
            "kpis 13 months by month",
            lambda: ask(rt, today - timedelta(days=395), today, granularity=Granularity.MONTH),
        ),
        ("weekly report (4 KPI reads, charts)", lambda: analytics.weekly_report(rt)),
        ("outlook, as pointsOutlook reads it (stored)", lambda: analytics.programme_outlook(rt)),
    ]
    for label, call in cases:
        await timed(label, runs, call)
    # The analytics-outlook job: a scan of every open lot, so a few runs are enough.
    await timed(
        "outlook job (every open lot summed)", OUTLOOK_RUNS, lambda: analytics.refresh_outlook(rt)
    )


async def earn_throughput(rt: Any, writers: int, seconds: float, members: int) -> float:
    from app.ledger import usecases as ledger
    from app.ledger.models import Actor

    staff = Actor("staff:bench", "bench", frozenset({"admin"}), kind="staff")
    done = 0
    deadline = time.perf_counter() + seconds

    async def writer(n: int) -> None:
        nonlocal done
        member = 1 + n
        while time.perf_counter() < deadline:
            member = 1 + (member * 7919 + n) % members
            await ledger.earn_points(
                rt,
                staff,
                Earn(member_id=member, amount=10, reason="bench"),
                idempotency_key=uuid4().hex,
            )
            done += 1

    await asyncio.gather(*(writer(n) for n in range(writers)))
    return done / seconds


async def main(args: argparse.Namespace) -> None:
    from app.analytics.rebuild import rebuild
    from app.cli import open_runtime
    from app.config import Settings
    from app.migrate import upgrade
    from app.segments.usecases import recompute_segments

    database_url = os.environ.get("JIFEN_DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("JIFEN_REDIS_URL") or DEFAULT_REDIS_URL
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    print(f"database {database_url}", flush=True)
    global DSN
    DSN = dsn
    if "JIFEN_DATABASE_URL" not in os.environ and not args.reuse:
        name = dsn.rsplit("/", 1)[1]
        admin = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
    await asyncio.to_thread(upgrade, database_url)
    if not args.reuse:
        await generate(dsn, args.members, args.entries)
    if args.generate_only:
        return
    settings = Settings(database_url=database_url, redis_url=redis_url)
    child_env = os.environ | {"JIFEN_DATABASE_URL": database_url, "JIFEN_REDIS_URL": redis_url}
    steps = set(args.steps.split(","))
    async with open_runtime(settings, pool_size=args.writers + 2) as rt:
        if "rebuild" in steps:
            started, cpu = time.perf_counter(), await cpu_seconds(dsn)
            done = await rebuild(rt)
            print(
                f"rebuild: {done.flows} rollup rows in {time.perf_counter() - started:.1f} s,"
                f" CPU {await cpu_seconds(dsn) - cpu:.1f} s   {load()}",
                flush=True,
            )
        if "kpis" in steps:
            print(f"KPI queries, {args.runs} runs each:", flush=True)
            await kpi_queries(rt, args.runs)
        if "segments" in steps:
            for label in ("first", "again", "a day on"):
                if label == "a day on":
                    await window_a_day_back(rt)
                started, cpu = time.perf_counter(), await cpu_seconds(dsn)
                run = await recompute_segments(rt)
                print(
                    f"RFM segments ({label}): {run.members} members, {run.changed} changed, "
                    f"in {time.perf_counter() - started:.1f} s, CPU"
                    f" {await cpu_seconds(dsn) - cpu:.1f} s   {load()}",
                    flush=True,
                )
        if "throughput" in steps:
            await rollup_cost(rt, args, child_env)
    if "exports" in steps:
        for kind in ("balances", "transactions"):
            subprocess.run(  # noqa: ASYNC221 (nothing else runs meanwhile)
                [sys.executable, __file__, "--export", kind],
                check=True,
                env=child_env,
            )


async def window_a_day_back(rt: Any) -> None:
    """Leave the members' activity as the day before's run did (its window's start a day
    earlier), so that the next run is a daily run: it moves a day of entries out of the
    window."""
    from app.segments.activity import age_activity

    window = timedelta(days=rt.settings.segment_window_days + 1)
    async with rt.engine.begin() as conn:
        await age_activity(conn, rt.clock.now() - window)


async def rollup_cost(rt: Any, args: argparse.Namespace, child_env: dict[str, str]) -> None:
    """earnPoints without the rollup projector, then with it, ``--rounds`` times in turn: each
    round's ratio is against its own phase without, so a drift of the shared box's load over
    the run does not read as the projector's cost. The projector is one child process for the
    whole step (started and warmed up first, as in a running worker), paused (SIGSTOP) for the
    phases without and resumed for the phases with: its start-up is not counted, its catching
    up on the phase before is."""
    print(
        f"earnPoints, {args.writers} writers, {args.seconds:g} s a phase, {args.rounds} rounds:",
        flush=True,
    )
    # Bring the rollups up to date first (rebuilding them if the outbox cannot tell what they
    # missed), so the child measures the projector's steady state, not a rebuild.
    from app.analytics.runner import rollup_round

    await rollup_round(rt)
    projector = subprocess.Popen(  # noqa: ASYNC220 (a child for the whole step)
        [sys.executable, __file__, "--project"], env=child_env
    )
    costs = []
    try:
        await asyncio.sleep(PROJECTOR_WARM_UP_SECONDS)

        def cpu() -> Awaitable[float]:  # bench, its PostgreSQL backends, the projector child
            return cpu_seconds(DSN, also=projector.pid)

        for n in range(args.rounds):
            projector.send_signal(signal.SIGSTOP)
            before = await cpu()
            without = await earn_throughput(rt, args.writers, args.seconds, args.members)
            after = await cpu()
            projector.send_signal(signal.SIGCONT)
            with_rollups = await earn_throughput(rt, args.writers, args.seconds, args.members)
            cpu_with = (await cpu() - after) / (with_rollups * args.seconds) * 1000
            cpu_without = (after - before) / (without * args.seconds) * 1000
            costs.append((without - with_rollups) / without * 100)
            print(
                f"  round {n + 1}: without the projector {without:8.1f}/s"
                f" (CPU {cpu_without:.2f} ms an earn)   with it {with_rollups:8.1f}/s"
                f" (CPU {cpu_with:.2f} ms)   cost {costs[-1]:+.1f}%   {load()}",
                flush=True,
            )
    finally:
        projector.send_signal(signal.SIGCONT)
        projector.terminate()
        projector.wait()
    print(f"  median cost {statistics.median(costs):+.1f}%", flush=True)


async def project_forever() -> None:
    """The child of step 4: the worker's rollup loop, alone."""
    from app.analytics.runner import run_rollups
    from app.cli import open_runtime
    from app.config import Settings

    async with open_runtime(Settings()) as rt:
        await run_rollups(rt, asyncio.Event())


async def export(kind: str) -> None:
    """The child of step 5: one export, read to the end and thrown away, its memory measured."""
    from app.analytics import exports
    from app.cli import open_runtime
    from app.config import Settings

    async with open_runtime(Settings()) as rt:
        before = rss_mb()
        started = time.perf_counter()
        today = date.today()
        stream = (
            exports.member_balances(rt)
            if kind == "balances"
            else exports.transactions(rt, today - timedelta(days=29), today)
        )
        lines = size = 0
        async for chunk in stream:
            lines += chunk.count("\n")
            size += len(chunk)
        took = time.perf_counter() - started
    print(
        f"export {kind}: {lines - 1} rows, {size / 1e6:.0f} MB in {took:.1f} s;"
        f" peak RSS {rss_mb():.0f} MB (before the export {before:.0f} MB)",
        flush=True,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--reuse", action="store_true", help="keep the generated database")
    parser.add_argument(
        "--steps",
        default=",".join(STEPS),
        help=f"which of {','.join(STEPS)} to run (default: all)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="without/with rounds of step 4")
    parser.add_argument(
        "--generate-only", action="store_true", help="stop after writing the data (then --reuse)"
    )
    parser.add_argument("--project", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--export", choices=["balances", "transactions"], help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.project:
        asyncio.run(project_forever())
    elif options.export:
        asyncio.run(export(options.export))
    else:
        asyncio.run(main(options))
