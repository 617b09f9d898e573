"""Expiry reminders benchmark: every member has points expiring within the week; the job sends
one reminder (a reminder row, a notification, an outbox event) to each.

    python bench/reminders.py                      # 1,000,000 members (a few minutes to set up)
    python bench/reminders.py --members 100000     # quick
    python bench/reminders.py --reuse              # the members of the last run, set up again

What it does, in one run:

1. Takes PostgreSQL from ``JIFEN_DATABASE_URL`` (else recreates ``jifen_bench_reminders``) and
   Redis from ``JIFEN_REDIS_URL`` (else database 7, flushed); migrates; writes ``--members``
   members, each with one lot of 10 points, earned 400 days ago, expiring in five days
   (members, accounts, entries, transfers and lots as the ledger writes them), with
   ``generate_series`` statements of 50,000 members each (a million in a few minutes).
   ``--reuse`` keeps the members of a run before (``JIFEN_DATABASE_URL`` then names the
   database) and empties the tables the job writes instead: the same data, ready in seconds, so
   that two versions of the job can be measured in turn on it. ``--no-floor`` skips step 2.
2. The floor, in the same run: the same number of reminder, notification and event rows
   written by three plain ``INSERT … SELECT`` statements from the expiring lots, the job's
   batch of members a transaction, each rolled back — what the database needs to write those
   rows at all.
3. The job (``send_expiry_reminders``) as the worker runs it, timed: wall, its PostgreSQL
   backends' CPU and the bench process's.
4. A second run of the job: it must send nothing (each reminder once).
5. Checks: one reminder, one notification and one event per member; the ledger audit passes.
   Prints the figures and the job's time over the floor's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for _path in (str(ROOT), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from ledger import (  # noqa: E402  (bench/ledger.py: shared set-up and audit helpers)
    asyncpg_dsn,
    audit,
    backend_pids,
    cpu_seconds,
    load_average,
    prepare_stage,
)

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/jifen_bench_reminders"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
POINTS = 10

# One statement a chunk of members, in its own transaction: the members, their accounts, one
# earn entry each with its transfer and its lot (as the ledger writes them; the balances set
# with the account). No member.registered events: the job reads lots, not events, and a
# million of them would be the set-up's longest part.
GENERATE_SQL = f"""
WITH m AS (
    INSERT INTO members (name, created_at, updated_at)
    SELECT 'bench member ' || g, now() - interval '400 days', now() - interval '400 days'
    FROM generate_series(1, $1::int) AS g
    RETURNING id
), a AS (
    INSERT INTO accounts (kind, code, member_id, available, lifetime_earned, next_due_at)
    SELECT 'member', 'member:' || id, id, {POINTS}, {POINTS},
           date_trunc('day', now()) + interval '5 days'
    FROM m
    RETURNING id, member_id
), e AS (
    INSERT INTO entries (member_id, kind, amount, balance_after, reason, source, actor,
                         created_by_kind, details, created_at)
    SELECT member_id, 'earn', {POINTS}, {POINTS}, 'bench lot', 'bench', 'staff:bench',
           'staff', '{{}}'::jsonb, now() - interval '400 days'
    FROM a
    RETURNING id, member_id, amount, created_at
), t AS (
    INSERT INTO transfers (entry_id, member_id, debit_account_id, credit_account_id, amount,
                           created_at)
    SELECT e.id, e.member_id, (SELECT id FROM programme_accounts WHERE code = 'issuance'), a.id,
           e.amount, e.created_at
    FROM e JOIN a USING (member_id)
)
INSERT INTO lots (account_id, member_id, entry_id, amount, remaining, pending, available_at,
                  expires_at, created_at)
SELECT a.id, e.member_id, e.id, e.amount, e.amount, false, e.created_at,
       date_trunc('day', now()) + interval '5 days', e.created_at
FROM e JOIN a USING (member_id)
"""
SETUP_CHUNK = 50_000  # members a statement (and a transaction)

# The floor: the same rows, written set-based straight from the lots (no Python), a batch of
# the job's size a transaction as the job does: a transaction takes one advisory lock per
# event's topic (the outbox's ordering trigger), and a million would not fit the lock table.
# The batch is a range of accounts ($1 < account_id <= $2), read on ix_lots_open as the job
# reads it (lots has no index by member: a member range would scan the table once a batch).
FLOOR_SQL = """
WITH due AS (
    SELECT member_id, (expires_at AT TIME ZONE 'Asia/Shanghai')::date AS expires_on,
           sum(remaining) AS points, nextval(pg_get_serial_sequence('notifications', 'id')) AS id
    FROM lots WHERE remaining > 0 AND expires_at > now() AND account_id > $1 AND account_id <= $2
    GROUP BY 1, 2
), told AS (
    INSERT INTO notifications (id, member_id, kind, title, body, payload, created_at)
    OVERRIDING SYSTEM VALUE
    SELECT id, member_id, 'points.expiring', points || ' points expire in 5 days', 'body',
           jsonb_build_object('member_id', member_id, 'points', points), now()
    FROM due
), reminded AS (
    INSERT INTO expiry_reminders (member_id, expires_on, threshold_days, points,
                                  notification_id, created_at)
    SELECT member_id, expires_on, 7, points, id, now() FROM due
)
INSERT INTO events (member_id, topic, type, payload)
SELECT member_id, 'member:' || member_id, 'points.expiring',
       jsonb_build_object('member_id', member_id, 'points', points, 'notification_id', id)
FROM due
"""


async def generate(url: str, members: int) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        for start in range(0, members, SETUP_CHUNK):
            await conn.execute(GENERATE_SQL, min(SETUP_CHUNK, members - start))
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


# What the job wrote (a run before), emptied for --reuse: the bench's database holds nothing else
# in these tables (the set-up writes no events), so every run starts from the same empty tables.
RESET_SQL = "TRUNCATE expiry_reminders, notifications, events"


async def reset(url: str) -> int:
    """Empties what the job wrote; returns how many members the database holds."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(RESET_SQL)
        await conn.execute("ANALYZE expiry_reminders, notifications, events")
        return int(await conn.fetchval("SELECT count(*) FROM accounts WHERE kind = 'member'"))
    finally:
        await conn.close()


async def floor(url: str, batch: int) -> tuple[float, float]:
    """Wall and PostgreSQL CPU seconds of the floor, batch by batch, each rolled back."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        low, high = await conn.fetchrow("SELECT min(account_id) - 1, max(account_id) FROM lots")
        pid = conn.get_server_pid()
        cpu, started = cpu_seconds([pid]), time.perf_counter()
        for first in range(low, high, batch):
            transaction = conn.transaction()
            await transaction.start()
            await conn.execute(FLOOR_SQL, first, first + batch)
            await transaction.rollback()
        seconds, used = time.perf_counter() - started, cpu_seconds([pid]) - cpu
        # The rolled-back rows leave dead index entries under the very keys the job then probes
        # (its skip of what was sent, its claim): gone before the job, as in production.
        await conn.execute("VACUUM expiry_reminders, notifications, events")
        return seconds, used
    finally:
        await conn.close()


def _autovacuum(pid: int) -> bool:
    """An autovacuum worker serving the database (its CPU is not the job's)."""
    try:
        return b"autovacuum" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


async def run_job(database_url: str, redis_url: str) -> tuple[dict[str, int], float, float]:
    """The job's result, its wall seconds and its PostgreSQL CPU seconds (the backends its pool
    opened, read before they close: on a loaded machine the steadier figure)."""
    from redis.asyncio import Redis

    from app.clock import system_clock
    from app.config import Settings
    from app.db import create_engine
    from app.lifecycle.reminders import send_expiry_reminders
    from app.runtime import Runtime

    settings = Settings(database_url=database_url, redis_url=redis_url, _env_file=None)  # type: ignore[call-arg]
    engine = create_engine(database_url, pool_size=2)
    redis = Redis.from_url(redis_url)
    try:
        started = time.perf_counter()
        result = await send_expiry_reminders(Runtime(settings, engine, redis, system_clock))
        seconds = time.perf_counter() - started
        database = database_url.rsplit("/", 1)[1]
        sessions = [pid for pid in backend_pids(database) if not _autovacuum(pid)]
        backend_cpu = cpu_seconds(sessions)
    finally:
        await redis.aclose()
        await engine.dispose()
    return result, seconds, backend_cpu


async def counts(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        row = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM expiry_reminders) AS reminders,
                      (SELECT count(*) FROM notifications) AS notifications,
                      (SELECT count(*) FROM events WHERE type = 'points.expiring') AS events,
                      (SELECT count(DISTINCT member_id) FROM expiry_reminders) AS members"""
        )
    finally:
        await conn.close()
    return dict(row)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--reuse", action="store_true", help="the last run's members, reset")
    parser.add_argument("--no-floor", action="store_true", help="the job only")
    args = parser.parse_args()
    if args.reuse and "JIFEN_DATABASE_URL" not in os.environ:
        parser.error("--reuse needs JIFEN_DATABASE_URL (else the bench recreates its database)")
    database_url, redis_url, _out, _run_id = prepare_stage(
        "reminders", DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, args.out
    )
    from app.lifecycle.reminders import BATCH

    print(f"load average before the run: {load_average()} (other work skews the figures)")
    started = time.perf_counter()
    if args.reuse:
        args.members = asyncio.run(reset(database_url))
        print(
            f"{args.members} members of the last run, reset in {time.perf_counter() - started:.0f}s"
        )
    else:
        asyncio.run(generate(database_url, args.members))
        print(
            f"{args.members} members with expiring points in {time.perf_counter() - started:.0f}s"
        )

    floor_seconds = floor_cpu = float("nan")
    if not args.no_floor:
        print(f"load average before the floor: {load_average()}")
        floor_seconds, floor_cpu = asyncio.run(floor(database_url, BATCH))
    print(f"load average before the job: {load_average()}")
    cpu = time.process_time()
    first, seconds, job_backend_cpu = asyncio.run(run_job(database_url, redis_url))
    job_cpu = time.process_time() - cpu
    print(f"load average after the job: {load_average()}")
    again, again_seconds, again_backend_cpu = asyncio.run(run_job(database_url, redis_url))
    written = asyncio.run(counts(database_url))
    ok, report = asyncio.run(audit(database_url))

    rate = first["sent"] / seconds if seconds else 0.0
    print("\n| run | reminders | seconds | reminders/s | PostgreSQL CPU s | bench CPU s |")
    print("|---|---:|---:|---:|---:|---:|")
    print(
        f"| floor: the same rows, plain SQL, {BATCH:,} a transaction | {args.members} | "
        f"{floor_seconds:.1f} | {args.members / floor_seconds:.0f} | {floor_cpu:.1f} | |"
    )
    print(
        f"| the job | {first['sent']} | {seconds:.1f} | {rate:.0f} | {job_backend_cpu:.1f} | "
        f"{job_cpu:.1f} |"
    )
    print(
        f"| the job again (nothing to send) | {again['sent']} | {again_seconds:.1f} | | "
        f"{again_backend_cpu:.1f} | |"
    )
    print(
        f"\njob / floor: {seconds / floor_seconds:.2f} in wall time, "
        f"{job_backend_cpu / floor_cpu:.2f} in PostgreSQL CPU"
    )
    exact = (
        first["sent"] == args.members
        and again["sent"] == 0
        and written["reminders"] == written["notifications"] == written["events"] == args.members
        and written["members"] == args.members
    )
    print(f"checks: one reminder, notification and event per member: {exact} ({written})")
    print(f"machine: {os.cpu_count()} CPU(s); load average after {load_average()}")
    print("\nledger audit:\n" + report)
    return 0 if ok and exact else 1


if __name__ == "__main__":
    sys.exit(main())
