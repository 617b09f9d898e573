"""Expiry sweep benchmark: 1,000,000 lots of which 200,000 are due; the sweep's speed and what it
does to the API's latency.

    python bench/expiry.py                       # the full run (a few minutes)
    python bench/expiry.py --lots 100000 --due 20000 --members 10000 --duration 10   # quick
    python bench/expiry.py --due 600000 --duration 10 --budgets 0,20000,10000,5000,2500,0

What it does, in one run:

1. Takes PostgreSQL and Redis from ``JIFEN_DATABASE_URL`` / ``JIFEN_REDIS_URL``; by default it
   (re)creates the database ``jifen_bench_h7_expiry`` on the local PostgreSQL and uses Redis
   database 7 (flushed). Migrates, registers ``--members`` members with bulk SQL, then writes
   ``--lots`` earned lots (``--lots / --members`` per member: 50 for 20,000 members) of which
   ``--due / --members`` per member are past their expiry, with ``generate_series``: the
   entries, their transfers from ``issuance``, the lots and the members' balances, exactly as
   ``earnPoints`` would have left them (the audit passes before the sweep, noting the due
   points).
2. Optionally (not with ``--no-floor``) the floor: the rows a sweep writes, with the same
   content (lots emptied; an entry listing its lots, a transfer and an event with the entry and
   the balance per member; an allocation per lot; the accounts' balances and next due moments)
   by one plain statement a batch of ``--batch`` members, each rolled back (then ``VACUUM``):
   what this machine, loaded as it is now, needs for the writes themselves.
3. Starts ``jifen serve --workers 2`` (scheduled jobs off, so nothing sweeps behind our back).
4. The curve: for each budget of ``--budgets`` (lots a second, 0: unpaced; ``2000/3``: at most
   3 accounts a batch, the same budget in smaller transactions) and each balance load, a window
   of ``me { balance { available } }`` reads for ``--duration`` seconds without a sweep, then
   the same with the sweep (``settle_due_accounts`` at that budget, in its own process, started
   on the bench's word and stopped at its first commit after the window): the p50s, the p99s
   and their ratio, the sweep's lots a second and its CPU (its PostgreSQL backend's and its
   own, from ``/proc``) a lot. Windows in turn, so that each ratio compares neighbours of the
   same hour. The loads: ``wrk``'s closed loop (``--connections``, saturating the API: its
   throughput cost), then an **open loop** at each of ``--balance-rates`` (bench/open_loop.py:
   Poisson arrivals, latency from each request's scheduled send; ``25%`` is a quarter of the
   closed loop's requests a second just measured): the figure the goal is judged by
   (docs/DECISIONS.md).
5. Sweeps what is left (``--finish-budget``, unpaced by default) with no API load, timed.
6. Checks: every due lot expired exactly once, none left due, the audit passes.

The year-end clearing (年底清零: every member's last-year points expire at one instant) is
``--year-end``: 1,000,000 members, two lots each, one due::

    python bench/expiry.py --year-end --no-floor --duration 10 --budgets 0,2000,1000,0

A million members take minutes to write: ``--generate-only`` stops after writing them into the
database ``JIFEN_DATABASE_URL`` names, and ``--reuse`` (same URL) skips the writing and runs on a
copy of it (``<name>_run``), so the data serves any number of runs. ``--sweeps N``: the sweep
settles batches on N connections at once (``JIFEN_EXPIRY_SWEEP_CONNECTIONS``)::

    python bench/expiry.py --year-end --generate-only
    python bench/expiry.py --year-end --reuse --sweeps 2 --no-floor --budgets 0 --duration 10

The sweep's CPU a lot against an older checkout's, alternating, on copies of the same data
(no API, unpaced; ``--before`` is the older tree's root, e.g. ``git archive <commit> | tar -x
-C /tmp/before``)::

    python bench/expiry.py --year-end --members 50000 --lots 100000 --due 50000 --cpu-pairs 3 \\
        --before /tmp/before

Enough due lots for the curve: each window takes up to ``budget * duration`` of them (an unpaced
one what the machine gives), e.g. ``--due 600000`` for ``--budgets 0,20000,10000,5000,2500,0``.

Needs ``wrk`` (Debian: ``apt-get install wrk``). Everything talks to loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from sqlalchemy import text

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for _path in (str(ROOT), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from ledger import (  # noqa: E402  (bench/ledger.py: shared set-up, server, wrk and audit helpers)
    Server,
    asyncpg_dsn,
    audit,
    cpu_seconds,
    load_average,
    mint_tokens,
    prepare_stage,
    register_members,
    rolled_back_cost,
    run_wrk,
    server_env,
    wrk_result,
)

from bench.open_loop import Phase, drive, raise_open_files, schedule  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/jifen_bench_h7_expiry"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
LOT_POINTS = 10
SWEEP_APP = "jifen-bench-sweep"
REGISTER_CHUNK = 1_000
DEFAULT_SHAPE = {"members": 20_000, "lots": 1_000_000, "due": 200_000}
# 年底清零: every member's points of last year expire at one instant, the year's stay.
YEAR_END = {"members": 1_000_000, "lots": 2_000_000, "due": 1_000_000}

# Every member gets `per` lots of 10 points, earned 400 days ago; the first `due` of them expired
# yesterday, the others expire in a year. Entries, transfers, lots and balances agree, as the
# ledger writes them.
GENERATE_SQL = """
INSERT INTO entries (member_id, kind, amount, balance_after, reason, source, actor,
                     created_by_kind, details, created_at)
SELECT a.member_id, 'earn', {points}, {points} * g, 'bench lot ' || g, 'bench',
       'staff:bench', 'staff', '{{}}'::jsonb, now() - interval '400 days'
FROM accounts a CROSS JOIN generate_series(1, {per}) AS g
WHERE a.kind = 'member'
ORDER BY a.member_id, g;

INSERT INTO transfers (entry_id, member_id, debit_account_id, credit_account_id, amount,
                       created_at)
SELECT e.id, e.member_id, (SELECT id FROM programme_accounts WHERE code = 'issuance'), a.id,
       e.amount, e.created_at
FROM entries e JOIN accounts a ON a.member_id = e.member_id
WHERE e.source = 'bench';

INSERT INTO lots (account_id, member_id, entry_id, amount, remaining, pending, available_at,
                  expires_at, created_at)
SELECT a.id, e.member_id, e.id, e.amount, e.amount, false, e.created_at,
       CASE WHEN row_number() OVER (PARTITION BY e.member_id ORDER BY e.id) <= {due}
            THEN now() - interval '1 day' ELSE now() + interval '365 days' END,
       e.created_at
FROM entries e JOIN accounts a ON a.member_id = e.member_id
WHERE e.source = 'bench';

UPDATE accounts SET available = {points} * {per}, lifetime_earned = {points} * {per},
       next_due_at = CASE WHEN {due} > 0 THEN now() - interval '1 day'
                          ELSE now() + interval '365 days' END
WHERE kind = 'member';
"""


async def generate_lots(url: str, per_member: int, due_per_member: int) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        # Whole numbers from the command line, formatted in (no user text reaches the SQL).
        sql = GENERATE_SQL.format(points=LOT_POINTS, per=int(per_member), due=int(due_per_member))
        for statement in filter(str.strip, sql.split(";")):
            await conn.execute(statement)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


# The floor: what the sweep writes for a batch of members ($1), by one plain set-based
# statement in one transaction (rolled back by the caller), the same rows with the same content
# as the sweep's: every due lot emptied and allocated to its member's one expiry entry (whose
# details list the lots), each entry with its transfer to the bank and its outbox event (the
# entry and the balance after, as the sweep's payload), each account saved with its balance and
# its next due moment. What it leaves out is the sweep's bookkeeping: locking the accounts
# (SKIP LOCKED), reading the members' statuses, and the round trips to the sweep's process.
# (In batches as the sweep: each event takes its topic's lock until the end of its
# transaction, and a million locks do not fit PostgreSQL's lock table.)
FLOOR_SQL = """
WITH due AS (
    UPDATE lots SET remaining = 0
    FROM (SELECT l.id, l.remaining FROM lots l JOIN accounts a ON a.id = l.account_id
          WHERE a.member_id = ANY($1::bigint[]) AND l.remaining > 0 AND l.expires_at <= now())
         AS d
    WHERE lots.id = d.id
    RETURNING lots.id, lots.account_id, lots.member_id, d.remaining
), per_account AS (
    SELECT account_id, member_id, sum(remaining)::bigint AS points,
           jsonb_agg(jsonb_build_object('lot_id', id, 'amount', remaining) ORDER BY id) AS taken
    FROM due GROUP BY account_id, member_id
), posted AS (
    INSERT INTO entries (member_id, kind, amount, balance_after, reason, source, actor,
                         created_by_kind, details, created_at)
    SELECT p.member_id, 'expiry', -p.points, a.available - p.points, 'points expired', 'jobs',
           'system:jobs', 'system', jsonb_build_object('lots', p.taken), now()
    FROM per_account p JOIN accounts a ON a.id = p.account_id
    ORDER BY p.member_id
    RETURNING *
), moved AS (
    INSERT INTO transfers (entry_id, member_id, debit_account_id, credit_account_id, amount,
                           created_at)
    SELECT p.id, p.member_id, a.id, (SELECT id FROM programme_accounts WHERE code = 'bank'),
           -p.amount, now()
    FROM posted p JOIN accounts a ON a.member_id = p.member_id
), allocated AS (
    INSERT INTO allocations (member_id, lot_id, amount, entry_id)
    SELECT p.member_id, due.id, due.remaining, p.id
    FROM due JOIN posted p ON p.member_id = due.member_id
), announced AS (
    INSERT INTO events (member_id, topic, type, payload)
    SELECT member_id, 'member:' || member_id, 'points.expired', jsonb_build_object(
        'entry', jsonb_build_object(
            'id', id, 'kind', kind, 'amount', amount, 'balance_after', balance_after,
            'reason', reason, 'source', source, 'reference', reference,
            'reverses_entry_id', reverses_entry_id, 'created_at', created_at),
        'balance', jsonb_build_object(
            'available', balance_after, 'pending', 0, 'held', 0, 'debt', 0,
            'total', balance_after))
    FROM posted
)
UPDATE accounts a SET available = a.available - p.points, version = a.version + 1,
       next_due_at = (SELECT min(l.expires_at) FROM lots l
                      WHERE l.account_id = a.id AND l.remaining > 0 AND l.expires_at > now())
FROM per_account p WHERE a.id = p.account_id
"""


async def floor(url: str, member_ids: list[int], batch: int) -> tuple[float, float]:
    """Wall and PostgreSQL CPU seconds the floor's writes take, ``batch`` members a transaction
    (each rolled back, then vacuumed away)."""
    seconds = cpu = 0.0
    for start in range(0, len(member_ids), batch):
        wall, used = await rolled_back_cost(url, FLOOR_SQL, member_ids[start : start + batch])
        seconds, cpu = seconds + wall, cpu + used
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute("VACUUM ANALYZE lots, entries, transfers, allocations, events, accounts")
    finally:
        await conn.close()
    return seconds, cpu


async def lot_facts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        row = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM lots) AS lots,
                      (SELECT count(*) FROM lots WHERE expires_at <= now()) AS due,
                      (SELECT count(*) FROM lots WHERE expires_at <= now() AND remaining > 0)
                          AS due_left,
                      (SELECT count(*) FROM allocations al JOIN entries e ON e.id = al.entry_id
                        WHERE e.kind = 'expiry') AS expiry_allocations,
                      (SELECT count(DISTINCT al.lot_id) FROM allocations al
                        JOIN entries e ON e.id = al.entry_id WHERE e.kind = 'expiry')
                          AS lots_expired"""
        )
    finally:
        await conn.close()
    return dict(row)


# ------------------------------------------------------------------------- the sweep process


class WindowClosed(Exception):
    """The measured window ended: the sweep stops at its next commit."""


async def expired_lots(conn: Any) -> int:
    # The bench's lots are all of 10 points and nothing spends them: an empty lot is an expired one.
    return int(await conn.scalar(text("SELECT count(*) FROM lots WHERE remaining = 0")))


WAL_POSITION = text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')")


async def sweep(
    database_url: str,
    redis_url: str,
    batch: int,
    lots_per_second: int,
    window: float | None,
    connections: int,
) -> dict[str, Any]:
    """``settle_due_accounts`` at ``lots_per_second`` (0: unpaced) on ``connections``
    connections, in this process, started on the parent's word (a line on stdin, so that the
    process's start is outside the measured window) and stopped at its first commit after
    ``window`` seconds (None: when nothing is due). Its lots, wall and CPU seconds (its
    PostgreSQL backends' and its own)."""
    from redis.asyncio import Redis

    from app.clock import system_clock
    from app.config import Settings
    from app.db import create_engine
    from app.ledger.usecases import settle_due_accounts
    from app.runtime import Runtime

    settings = Settings(database_url=database_url, redis_url=redis_url, _env_file=None)  # type: ignore[call-arg]
    engine = create_engine(database_url, pool_size=connections, application_name=SWEEP_APP)
    redis = Redis.from_url(redis_url)

    class WindowedRuntime(Runtime):
        async def members_written(self, members: Any) -> None:
            if window is not None and time.perf_counter() - started > window:
                raise WindowClosed

    try:
        pids = await open_ahead(engine, connections)  # the sweep's connections (a LIFO pool)
        async with engine.connect() as conn:
            before = await expired_lots(conn)
            wal_before = await conn.scalar(WAL_POSITION)
        print("ready", flush=True)
        sys.stdin.readline()
        backend, process = cpu_seconds(pids), time.process_time()
        started = time.perf_counter()
        runtime = WindowedRuntime(settings, engine, redis, system_clock)
        try:
            await settle_due_accounts(
                runtime, batch=batch, lots_per_second=lots_per_second, connections=connections
            )
            finished = True
        except WindowClosed:
            finished = False
        seconds = time.perf_counter() - started
        backend, process = cpu_seconds(pids) - backend, time.process_time() - process
        async with engine.connect() as conn:
            lots = await expired_lots(conn) - before
            wal = await conn.scalar(WAL_POSITION) - wal_before
    finally:
        await redis.aclose()
        await engine.dispose()
    return {
        "lots_per_second_budget": lots_per_second,
        "expired_lots": lots,
        "wal_bytes": float(wal),  # the whole cluster's: other sessions' writes count too
        "seconds": seconds,
        "finished": finished,
        "pg_cpu": backend,
        "python_cpu": process,
    }


async def open_ahead(engine: Any, connections: int) -> list[int]:
    """Open the pool's ``connections`` connections at once, before the clock starts: their
    backends' ids (the sweep's PostgreSQL CPU is theirs)."""
    opened = [await engine.connect() for _ in range(connections)]
    try:
        return [await conn.scalar(text("SELECT pg_backend_pid()")) for conn in opened]
    finally:
        for conn in opened:
            await conn.close()


class Sweeper:
    """The sweep in its own process: started ahead, told to go, its figures read back."""

    def __init__(
        self,
        database_url: str,
        redis_url: str,
        batch: int,
        lots_per_second: int,
        window: float | None,
        out: Path,
        tree: Path = ROOT,
        connections: int = 1,
    ) -> None:
        """``tree``: the checkout whose app sweeps (its own bench/expiry.py runs it; a before
        run is made from a checkout of the older commit, which must know ``--sweeps`` when
        ``connections`` is not 1)."""
        self.result = out / f"sweep-{lots_per_second}-{time.monotonic_ns()}.json"
        script = tree / "bench" / "expiry.py"
        command = [sys.executable, str(script), "--sweep-only", "--batch", str(batch)]
        command += ["--budget", str(lots_per_second), "--result", str(self.result)]
        if window is not None:
            command += ["--window", str(window)]
        if connections != 1:
            command += ["--sweeps", str(connections)]
        self.proc = subprocess.Popen(
            command,
            cwd=tree,
            env={**os.environ, "JIFEN_DATABASE_URL": database_url, "JIFEN_REDIS_URL": redis_url},
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the sweep process did not start")

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def figures(self) -> dict[str, Any]:
        if self.proc.wait() != 0:
            raise RuntimeError("the sweep failed")
        return dict(json.loads(self.result.read_text()))


# ------------------------------------------------------------------------------------ main


def cpu_per_lot(swept: dict[str, Any]) -> str:
    cpu = swept["pg_cpu"] + swept["python_cpu"]
    lots = max(swept["expired_lots"], 1)
    return (
        f"{1e6 * cpu / lots:.0f} µs a lot ({1e6 * swept['pg_cpu'] / lots:.0f} PostgreSQL + "
        f"{1e6 * swept['python_cpu'] / lots:.0f} Python), {cpu / swept['seconds']:.2f} cores"
    )


def budget_name(lots_per_second: int) -> str:
    return "unpaced" if lots_per_second == 0 else f"{lots_per_second:,}/s"


def print_curve(phases: list[dict[str, Any]]) -> None:
    """A row per budget and load: the sweep's rate and CPU, the balance read's p50 and p99 in
    the window just before (no sweep) and during it, and the p99's ratio. The closed loop (wrk,
    saturating) first, then each open-loop rate (its share of the closed loop's capacity
    measured without a sweep in the same run)."""
    print(
        "\n| budget | balance load | lots/s | p50 without → during ms | p99 without → during ms "
        "| p99 ratio | req/s without → during | sweep CPU |"
    )
    print("|---|---|---:|---|---|---:|---|---|")
    for phase in phases:
        for window in phase["windows"]:
            swept, base, during = window["sweep"], window["baseline"], window["during"]
            print(
                f"| {budget_name(swept['lots_per_second_budget'])}, batch ≤ {phase['batch']:,} "
                f"| {window['load']} "
                f"| {swept['expired_lots'] / swept['seconds']:,.0f} "
                f"| {base['p50_ms']:.1f} → {during['p50_ms']:.1f} "
                f"| {base['p99_ms']:.1f} → {during['p99_ms']:.1f} | {window['ratio']:.2f} "
                f"| {base['rps']:.0f} → {during['rps']:.0f} | {cpu_per_lot(swept)} |"
            )


def print_finish(swept: dict[str, Any], floor_cost: tuple[float, float] | None) -> None:
    lots_per_second = swept["expired_lots"] / swept["seconds"] if swept["seconds"] else 0.0
    print(
        f"\nthe rest, {budget_name(swept['lots_per_second_budget'])}, no API load: "
        f"{swept['expired_lots']} lots in {swept['seconds']:.1f}s = {lots_per_second:,.0f} lots/s; "
        f"{cpu_per_lot(swept)}"
    )
    if floor_cost is None:
        return
    floor_seconds, floor_cpu = floor_cost
    print(
        f"floor (every due lot's rows by plain statements, in the sweep's batches, rolled back): "
        f"{floor_seconds:.1f}s, {floor_cpu:.1f}s of PostgreSQL CPU"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lots", type=int, default=None, help="1,000,000 (year-end: 2,000,000)")
    parser.add_argument("--due", type=int, default=None, help="200,000 (year-end: 1,000,000)")
    parser.add_argument("--members", type=int, default=None, help="20,000 (year-end: 1,000,000)")
    parser.add_argument(
        "--year-end",
        action="store_true",
        help="年底清零: 1,000,000 members, two lots each, one due (all at one instant)",
    )
    parser.add_argument("--batch", type=int, default=1000, help="accounts per sweep transaction")
    parser.add_argument("--sweeps", type=int, default=1, help="the sweep's connections at once")
    parser.add_argument("--generate-only", action="store_true", help="stop after the data")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="JIFEN_DATABASE_URL holds a run's data (--generate-only): work on a copy of it",
    )
    parser.add_argument(
        "--budgets",
        default="2000,0",
        help="the sweep's lots-per-second budgets to measure, each in its own window (0: unpaced)",
    )
    parser.add_argument(
        "--finish-budget", type=int, default=0, help="the budget that sweeps the rest at the end"
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the floor's measurement")
    parser.add_argument(
        "--balance-rates",
        default="25%,50%",
        help="open-loop balance reads, each its own pair of windows: a second (400) or a share "
        "of the closed loop's capacity measured just before (25%%); '': none",
    )
    parser.add_argument("--arrivals", choices=("poisson", "constant"), default="poisson")
    parser.add_argument("--no-closed-loop", action="store_true", help="skip the wrk windows")
    parser.add_argument("--pool", type=int, default=2000, help="open loop: connections, at most")
    parser.add_argument("--timeout", type=float, default=10.0, help="open loop: seconds")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument(
        "--cpu-pairs",
        type=int,
        default=0,
        help="no API: N alternating unpaced sweeps of this tree and --before's on copies of the "
        "generated data, their CPU a lot",
    )
    parser.add_argument("--before", type=Path, default=None, help="the older checkout's root")
    parser.add_argument(
        "--before-data",
        default=None,
        help="--cpu-pairs: the before runs sweep copies of this database (its URL) instead: a "
        "schema or storage change measured on the same tree (--before defaults to this one)",
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of wrk per window")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--tokens", type=int, default=500, help="member tokens for wrk")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--sweep-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--window", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.balance_rates = [r.strip() for r in args.balance_rates.split(",") if r.strip()]
    try:
        rates = [float(r.removesuffix("%")) for r in args.balance_rates]
    except ValueError:
        parser.error("--balance-rates: numbers a second, or percentages such as 25%")
    if any(not 0 < r < 1e6 for r in rates):
        parser.error("--balance-rates must be positive")
    if args.no_closed_loop and any(r.endswith("%") for r in args.balance_rates):
        parser.error("a share of capacity needs the closed loop (it measures the capacity)")
    if args.reuse and "JIFEN_DATABASE_URL" not in os.environ:
        parser.error("--reuse needs JIFEN_DATABASE_URL (else the bench recreates its database)")
    if args.cpu_pairs and args.before is None:
        if args.before_data is None:
            parser.error("--cpu-pairs needs --before (a checkout of the older commit)")
        args.before = ROOT
    shape = YEAR_END if args.year_end else DEFAULT_SHAPE
    for name, value in shape.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def generate(
    database_url: str, args: argparse.Namespace, run_id: str
) -> tuple[list[int], dict[str, int]]:
    started = time.perf_counter()
    member_ids: list[int] = []
    for chunk in range(0, args.members, REGISTER_CHUNK):  # one topic lock per event: chunks
        count = min(REGISTER_CHUNK, args.members - chunk)
        member_ids += asyncio.run(register_members(database_url, count, f"{run_id}-{chunk}"))
    asyncio.run(generate_lots(database_url, args.lots // args.members, args.due // args.members))
    before = asyncio.run(lot_facts(database_url))
    print(
        f"generated {before['lots']} lots ({before['due']} due) for {len(member_ids)} members "
        f"in {time.perf_counter() - started:.1f}s",
        flush=True,
    )
    return member_ids, before


async def generated(url: str) -> tuple[list[int], dict[str, int]]:
    """The members and lots a run before generated (``--reuse``)."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch("SELECT member_id FROM accounts WHERE kind = 'member' ORDER BY 1")
    finally:
        await conn.close()
    before = await lot_facts(url)
    print(f"reusing {before['lots']} lots ({before['due']} due) of {len(rows)} members", flush=True)
    return [row["member_id"] for row in rows], before


BALANCE = json.dumps({"query": "{ me { balance { available } } }"}).encode()


class Loads:
    """The balance reads of a window: wrk's closed loop (``--connections`` connections, each
    asking again when answered: it saturates the API) or an open loop at a fixed rate (requests
    on a Poisson schedule, latency from each one's scheduled send: members do not wait for each
    other), each over ``--duration`` seconds."""

    def __init__(
        self,
        server: Server,
        args: argparse.Namespace,
        session: aiohttp.ClientSession,
        tokens: list[str],
        wrk_env: dict[str, str],
    ) -> None:
        self.server, self.args, self.session = server, args, session
        self.tokens, self.wrk_env = tokens, wrk_env
        self.rng = random.Random(args.seed)

    async def closed(self, name: str, seconds: float | None = None) -> dict[str, Any]:
        figures = await asyncio.to_thread(
            run_wrk,
            BENCH_DIR / "balance.lua",
            self.server.url,
            self.wrk_env,
            seconds=seconds or self.args.duration,
            connections=self.args.connections,
            threads=self.args.threads,
        )
        result = wrk_result(name, figures)
        return {**asdict(result), "rps": result.rps}

    async def opened(self, name: str, rate: float, seconds: float | None = None) -> dict[str, Any]:
        count = max(1, int(rate * (seconds or self.args.duration)))
        phase = Phase(name=name, offered_rps=rate, requests=count)
        offsets = schedule(rate, count, self.args.arrivals, self.rng)
        bodies = [(BALANCE, self.tokens[i % len(self.tokens)], '"available"') for i in range(count)]
        client = time.process_time()
        await drive(self.session, f"{self.server.url}/graphql", phase, bodies, offsets, self.args)
        phase.client_cpu_ms = 1000 * (time.process_time() - client) / count
        if phase.errors or phase.held_by_pool:
            print(f"  {name}: {phase.errors} errors, {phase.held_by_pool} held by the pool")
        return {**asdict(phase), "rps": phase.achieved_rps, "errors": phase.errors}


def parse_budgets(budgets: str, batch: int) -> list[tuple[int, int]]:
    """``2000,2000/10,0``: lots a second (0: unpaced), each with ``/accounts`` at most a batch
    (else ``--batch``): the same budget in smaller transactions."""
    pairs = []
    for item in filter(None, (b.strip() for b in budgets.split(","))):
        budget, _, accounts = item.partition("/")
        pairs.append((int(budget), int(accounts) if accounts else batch))
    return pairs


def offered(wanted: str, capacity: float) -> float:
    """An open-loop rate: ``400`` a second, or ``25%`` of ``capacity`` (the closed loop's
    requests a second without a sweep, measured just before)."""
    if wanted.endswith("%"):
        return max(1.0, float(wanted[:-1]) / 100 * capacity)
    return float(wanted)


async def measure_budgets(
    server: Server,
    args: argparse.Namespace,
    urls: tuple[str, str],
    out: Path,
    tokens: list[str],
    wrk_env: dict[str, str],
) -> list[dict[str, Any]]:
    """Per budget and per load (the closed loop, then each open-loop rate): a window of balance
    reads without a sweep, then one with the sweep at that budget (stopped at its first commit
    after the window), in turn, so that each ratio compares two neighbouring windows of the
    same hour."""
    connector = aiohttp.TCPConnector(limit=args.pool, keepalive_timeout=2.0)  # < uvicorn's 5 s
    async with aiohttp.ClientSession(connector=connector) as session:
        loads = Loads(server, args, session, tokens, wrk_env)
        capacity = (await loads.closed("warm-up", 3))["rps"]
        if args.balance_rates:
            await loads.opened("warm-up", offered(args.balance_rates[0], capacity), 3)
        phases = []
        for budget, batch in parse_budgets(args.budgets, args.batch):
            windows = []
            measures: list[str | None] = [] if args.no_closed_loop else [None]
            for wanted in measures + args.balance_rates:
                rate = None if wanted is None else offered(wanted, capacity)
                load = "closed loop" if rate is None else f"open {rate:,.0f}/s"

                def window(name: str, rate: float | None = rate) -> Any:
                    return loads.closed(name) if rate is None else loads.opened(name, rate)

                baseline = await window(f"balance {load}, no sweep")
                if rate is None:
                    capacity = baseline["rps"]
                else:
                    load += f" ({rate / capacity:.0%} of capacity)"
                sweeper = await asyncio.to_thread(
                    Sweeper, *urls, batch, budget, args.duration, out, ROOT, args.sweeps
                )
                sweeper.go()
                during = await window(f"balance {load}, sweep {budget_name(budget)}")
                swept = await asyncio.to_thread(sweeper.figures)
                ratio = during["p99_ms"] / baseline["p99_ms"] if baseline["p99_ms"] else 0.0
                windows.append(
                    {
                        "load": load,
                        "sweep": swept,
                        "baseline": baseline,
                        "during": during,
                        "ratio": ratio,
                    }
                )
                print(
                    f"  {budget_name(budget)}, {load}: "
                    f"{swept['expired_lots'] / swept['seconds']:,.0f} lots/s, p50 "
                    f"{baseline['p50_ms']:.1f} → {during['p50_ms']:.1f} ms, p99 "
                    f"{baseline['p99_ms']:.1f} → {during['p99_ms']:.1f} ms ({ratio:.2f}x)",
                    flush=True,
                )
                if swept["finished"]:
                    print("  note: nothing was left due before the window ended (idle time)")
            phases.append({"budget": budget, "batch": batch, "windows": windows})
    return phases


async def clone_database(url: str, template_url: str | None) -> None:
    """(Re)create ``url``'s database, as a copy of ``template_url``'s (None: only drop it)."""
    name = url.rsplit("/", 1)[1].split("?")[0]
    conn = await asyncpg.connect(asyncpg_dsn(url.rsplit("/", 1)[0] + "/postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if template_url is not None:
            template = template_url.rsplit("/", 1)[1].split("?")[0]
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()


async def writes_per_lot(url: str, swept: dict[str, Any]) -> str:
    """What a sweep wrote a lot (read after its process ended, its backends' statistics flushed,
    on a fresh copy: every count is the sweep's): the share of the lots' and the accounts'
    updates that were HOT (no index entry written), and the WAL a lot (the cluster's: other
    sessions' writes meanwhile count too)."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
            "WHERE relname IN ('lots', 'accounts') ORDER BY relname"
        )
    finally:
        await conn.close()
    hot = ", ".join(
        f"{row['relname']} {row['n_tup_hot_upd']}/{row['n_tup_upd']} HOT" for row in rows
    )
    return f"{hot}, WAL {swept['wal_bytes'] / max(swept['expired_lots'], 1):.0f} B a lot"


def cpu_pairs(database_url: str, redis_url: str, args: argparse.Namespace, out: Path) -> bool:
    """The sweep's CPU a lot, this tree against ``--before``'s, in alternating runs on copies
    of the same generated data (unpaced, no API load): on a loaded box CPU seconds a lot are
    the figure that stays put. Each copy is audited after its sweep."""
    sides = [
        ("before", args.before.resolve(), args.before_data or database_url),
        ("after", ROOT, database_url),
    ]
    copy = database_url.rsplit("?", 1)[0] + "_run"
    figures: dict[str, list[float]] = {"before": [], "after": []}
    good = True
    for run in range(args.cpu_pairs):
        for label, tree, data in sides if run % 2 == 0 else sides[::-1]:
            asyncio.run(clone_database(copy, data))
            sweeper = Sweeper(copy, redis_url, args.batch, 0, None, out, tree, args.sweeps)
            sweeper.go()
            swept = sweeper.figures()
            swept["writes"] = asyncio.run(writes_per_lot(copy, swept))
            ok, report = asyncio.run(audit(copy))
            good = good and ok
            lots = max(swept["expired_lots"], 1)
            figures[label].append(1e6 * (swept["pg_cpu"] + swept["python_cpu"]) / lots)
            print(
                f"  {label:<6} {swept['expired_lots']} lots in {swept['seconds']:.1f}s: "
                f"{cpu_per_lot(swept)}; {swept['writes']}; audit {'passed' if ok else 'FAILED'}; "
                f"load {load_average()}",
                flush=True,
            )
            if not ok:
                print(report)
    asyncio.run(clone_database(copy, None))
    before, after = (sorted(figures[k])[len(figures[k]) // 2] for k in ("before", "after"))
    print(
        f"\nCPU a lot, median of {args.cpu_pairs}: before {before:.0f} µs, after {after:.0f} µs: "
        f"{after / before:.2f}x"
    )
    return good


def main() -> int:
    args = parse_args()
    if args.sweep_only:
        swept = asyncio.run(
            sweep(
                os.environ["JIFEN_DATABASE_URL"],
                os.environ["JIFEN_REDIS_URL"],
                args.batch,
                args.budget,
                args.window,
                args.sweeps,
            )
        )
        args.result.write_text(json.dumps(swept))
        return 0
    raise_open_files()
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (Debian/Ubuntu: apt-get install wrk)", file=sys.stderr)
        return 2
    if args.lots % args.members or args.due % args.members:
        print("error: --lots and --due must be multiples of --members", file=sys.stderr)
        return 2
    database_url, redis_url, out, run_id = prepare_stage(
        "expiry", DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, args.out
    )
    print(f"load average before the run: {load_average()} (other work skews the figures)")
    if args.reuse:
        member_ids, before = asyncio.run(generated(database_url))
    else:
        member_ids, before = generate(database_url, args, run_id)
    if args.generate_only:
        return 0
    if args.cpu_pairs:
        return 0 if cpu_pairs(database_url, redis_url, args, out) else 1
    if args.reuse:  # the generated data stays as it is, for the next run
        template, database_url = database_url, database_url.rsplit("?", 1)[0] + "_run"
        asyncio.run(clone_database(database_url, template))
    floor_cost = None
    if not args.no_floor:
        floor_cost = asyncio.run(floor(database_url, member_ids, args.batch))
        print(f"floor: {floor_cost[0]:.1f}s ({floor_cost[1]:.1f}s of PostgreSQL CPU)", flush=True)

    _, tokens = mint_tokens(member_ids, args.tokens)
    tokens_file = out / "tokens.txt"
    tokens_file.write_text("\n".join(tokens) + "\n")
    env = server_env(
        database_url,
        redis_url,
        out,
        JIFEN_JOBS_ENABLED="false",  # the sweep runs here, measured, not on the schedule
        JIFEN_EVENT_CHANNEL_PREFIX="jifen:bench-expiry:",  # apart from tests on this Redis
    )
    server = Server(env, args.workers, out / "server.log")
    try:
        server.wait_ready()
        print(f"server {server.url} ready", flush=True)
        urls = (database_url, redis_url)
        wrk_env = {"BENCH_TOKENS": str(tokens_file)}
        import uvloop

        phases = uvloop.run(measure_budgets(server, args, urls, out, tokens, wrk_env))
    finally:
        server.stop()
    finisher = Sweeper(
        database_url, redis_url, args.batch, args.finish_budget, None, out, ROOT, args.sweeps
    )
    finisher.go()
    rest = finisher.figures()
    after = asyncio.run(lot_facts(database_url))
    ok, report = asyncio.run(audit(database_url))
    print_curve(phases)
    print_finish(rest, floor_cost)
    exact = after["lots_expired"] == before["due"] == after["expiry_allocations"]
    print(
        f"\nchecks: due lots {before['due']}, expired {after['lots_expired']} (each once: "
        f"{exact}), due and not swept {after['due_left']}"
    )
    print(
        f"machine: {os.cpu_count()} CPU(s), shared with other sessions; {args.connections} "
        f"connections, {args.threads} wrk threads, {args.workers} server workers, sweep batch "
        f"{args.batch}; load average after the run {load_average()}"
    )
    print("\nledger audit:\n" + report)
    (out / "results.json").write_text(
        json.dumps(
            {
                "phases": phases,
                "rest": rest,
                "floor_seconds": floor_cost and floor_cost[0],
                "floor_pg_cpu": floor_cost and floor_cost[1],
                "lots": before,
                "after": after,
                "audit_ok": ok,
                "args": {k: str(v) for k, v in vars(args).items()},
            },
            indent=2,
        )
        + "\n"
    )
    return 0 if ok and exact and after["due_left"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
