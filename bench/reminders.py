"""Expiry reminders benchmark: every member has points expiring within the week; the job sends
one reminder (a reminder row, a notification, an outbox event) to each.

    python bench/reminders.py                      # 1,000,000 members (a few minutes to set up)
    python bench/reminders.py --members 100000     # quick

What it does, in one run:

1. Takes PostgreSQL from ``JIFEN_DATABASE_URL`` (else recreates ``jifen_bench_reminders``) and
   Redis from ``JIFEN_REDIS_URL`` (else database 7, flushed); migrates; registers ``--members``
   members with bulk SQL and gives each one lot of 10 points, earned 400 days ago, expiring in
   five days (entries, transfers, lots and balances as the ledger writes them).
2. The floor, in the same run: the same number of reminder, notification and event rows
   written by three plain ``INSERT … SELECT`` statements from the expiring lots, in one
   transaction that is rolled back — what the database needs to write those rows at all.
3. The job (``send_expiry_reminders``) as the worker runs it, timed.
4. A second run of the job: it must send nothing (each reminder once).
5. Checks: one reminder, one notification and one event per member; the ledger audit passes.
   Prints the figures and the job's time over the floor's.
"""

from __future__ import annotations

import argparse
import asyncio
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
    load_average,
    prepare_stage,
    register_members,
    rolled_back_seconds,
)

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/jifen_bench_reminders"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
REGISTER_CHUNK = 1_000
POINTS = 10

GENERATE_SQL = f"""
INSERT INTO entries (member_id, kind, amount, balance_after, reason, source, actor,
                     created_by_kind, details, created_at)
SELECT a.member_id, 'earn', {POINTS}, {POINTS}, 'bench lot', 'bench', 'staff:bench', 'staff',
       '{{}}'::jsonb, now() - interval '400 days'
FROM accounts a WHERE a.kind = 'member' ORDER BY a.member_id;

INSERT INTO transfers (entry_id, debit_account_id, credit_account_id, amount, created_at)
SELECT e.id, (SELECT id FROM accounts WHERE code = 'issuance'), a.id, e.amount, e.created_at
FROM entries e JOIN accounts a ON a.member_id = e.member_id WHERE e.source = 'bench';

INSERT INTO lots (account_id, member_id, entry_id, amount, remaining, pending, available_at,
                  expires_at, created_at)
SELECT a.id, e.member_id, e.id, e.amount, e.amount, false, e.created_at,
       date_trunc('day', now()) + interval '5 days', e.created_at
FROM entries e JOIN accounts a ON a.member_id = e.member_id WHERE e.source = 'bench';

UPDATE accounts SET available = {POINTS}, lifetime_earned = {POINTS},
       next_due_at = date_trunc('day', now()) + interval '5 days'
WHERE kind = 'member';
"""

# The floor: the same rows, written set-based straight from the lots (no Python, no batching).
FLOOR_SQL = """
WITH due AS (
    SELECT member_id, (expires_at AT TIME ZONE 'Asia/Shanghai')::date AS expires_on,
           sum(remaining) AS points, nextval(pg_get_serial_sequence('notifications', 'id')) AS id
    FROM lots WHERE remaining > 0 AND expires_at > now() GROUP BY 1, 2
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
INSERT INTO events (topic, type, payload)
SELECT 'member:' || member_id, 'points.expiring',
       jsonb_build_object('member_id', member_id, 'points', points, 'notification_id', id)
FROM due
"""


async def generate(url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        for statement in filter(str.strip, GENERATE_SQL.split(";")):
            await conn.execute(statement)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def floor(url: str) -> float:
    return await rolled_back_seconds(url, FLOOR_SQL)


async def run_job(database_url: str, redis_url: str) -> tuple[dict[str, int], float]:
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
    finally:
        await redis.aclose()
        await engine.dispose()
    return result, seconds


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
    args = parser.parse_args()
    database_url, redis_url, _out, run_id = prepare_stage(
        "reminders", DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, args.out
    )
    print(f"load average before the run: {load_average()} (other work skews the figures)")
    started = time.perf_counter()
    for chunk in range(0, args.members, REGISTER_CHUNK):
        count = min(REGISTER_CHUNK, args.members - chunk)
        asyncio.run(register_members(database_url, count, f"{run_id}-{chunk}"))
    asyncio.run(generate(database_url))
    print(f"{args.members} members with expiring points in {time.perf_counter() - started:.0f}s")

    floor_seconds = asyncio.run(floor(database_url))
    first, seconds = asyncio.run(run_job(database_url, redis_url))
    again, again_seconds = asyncio.run(run_job(database_url, redis_url))
    written = asyncio.run(counts(database_url))
    ok, report = asyncio.run(audit(database_url))

    rate = first["sent"] / seconds if seconds else 0.0
    print("\n| run | reminders | seconds | reminders/s |")
    print("|---|---:|---:|---:|")
    print(
        f"| floor: the same rows, plain SQL | {args.members} | {floor_seconds:.1f} | "
        f"{args.members / floor_seconds:.0f} |"
    )
    print(f"| the job | {first['sent']} | {seconds:.1f} | {rate:.0f} |")
    print(f"| the job again (nothing to send) | {again['sent']} | {again_seconds:.1f} | |")
    print(f"\njob / floor: {seconds / floor_seconds:.2f}")
    exact = (
        first["sent"] == args.members
        and again["sent"] == 0
        and written["reminders"] == written["notifications"] == written["events"] == args.members
        and written["members"] == args.members
    )
    print(f"checks: one reminder, notification and event per member: {exact} ({written})")
    print(f"machine: {__import__('os').cpu_count()} CPU(s); load average after {load_average()}")
    print("\nledger audit:\n" + report)
    return 0 if ok and exact else 1


if __name__ == "__main__":
    sys.exit(main())
