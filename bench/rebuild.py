"""Leaderboard rebuild benchmark: the ``points-earned`` board of 1,000,000 members rebuilt from
the ledger, timed, and compared with the live board the projector built from the events.

    python bench/rebuild.py                        # 1,000,000 members (several minutes to set up)
    python bench/rebuild.py --members 100000       # quick

What it does, in one run:

1. Takes PostgreSQL from ``JIFEN_DATABASE_URL`` (else recreates ``jifen_bench_rebuild``) and
   Redis from ``JIFEN_REDIS_URL`` (else database 7, flushed); migrates; writes ``--members``
   members with bulk SQL and ``--earns`` earns each at random instants of the last ``--days``
   days (entries, transfers, lots, balances and ``points.earned`` events, as the ledger writes
   them; the outbox's per-topic ordering trigger is off during the load: a million topic locks
   in one transaction would not fit the lock table, and nothing else writes meanwhile).
2. The live board: the projector (``apply_pending``) applies every event, as it would have
   while the members earned. Its sets are read back whole (element and score: the ranks).
   Above ``--live-max`` members this is skipped (the projector applies ~1,000 events/s on a
   loaded 2-core box: 2,000,000 events would take half an hour); the rebuilt all-time set's
   order is then compared with the ranks SQL computes by the documented rule instead (more
   points, then reached first, then the smaller member id).
3. The floor, in the same run: the ledger's per-member sums alone (the rebuild's own read,
   ``ledger_rows``: every period set in one scan, no Redis), then the rebuild (``jifen
   leaderboards rebuild``), timed, each with the CPU seconds of this process, of the
   database's PostgreSQL backends and of the Redis server.
4. Checks: every rebuilt set equals the live one (same elements, same scores: same ranks),
   ``check_board`` finds no difference, and the ledger audit passes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any, cast

import asyncpg

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for _path in (str(ROOT), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from ledger import asyncpg_dsn, audit, load_average, prepare_stage  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/jifen_bench_rebuild"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"

# Whole numbers from the command line are formatted in (no user text reaches the SQL).
GENERATE_SQL = """
ALTER TABLE events DISABLE TRIGGER USER;

INSERT INTO members (name, created_at, updated_at)
SELECT 'bench member ' || g, now() - interval '{days} days', now() - interval '{days} days'
FROM generate_series(1, {members}) AS g;

INSERT INTO accounts (kind, code, member_id)
SELECT 'member', 'member:' || id, id FROM members;

INSERT INTO entries (member_id, kind, amount, balance_after, reason, source, actor,
                     created_by_kind, details, created_at)
SELECT member_id, 'earn', amount, 0, 'bench earn', 'bench', 'staff:bench', 'staff',
       '{{}}'::jsonb, created_at
FROM (SELECT m.id AS member_id, 1 + (random() * 999)::int AS amount,
             now() - random() * interval '{days} days' AS created_at
      FROM members m CROSS JOIN generate_series(1, {earns})) AS earned
ORDER BY created_at;

INSERT INTO transfers (entry_id, member_id, debit_account_id, credit_account_id, amount,
                       created_at)
SELECT e.id, e.member_id, (SELECT id FROM programme_accounts WHERE code = 'issuance'), a.id,
       e.amount, e.created_at
FROM entries e JOIN accounts a ON a.member_id = e.member_id;

INSERT INTO lots (account_id, member_id, entry_id, amount, remaining, pending, available_at,
                  expires_at, created_at)
SELECT a.id, e.member_id, e.id, e.amount, e.amount, false, e.created_at, NULL, e.created_at
FROM entries e JOIN accounts a ON a.member_id = e.member_id;

UPDATE accounts a SET available = s.points, lifetime_earned = s.points
FROM (SELECT member_id, sum(amount) AS points FROM entries GROUP BY member_id) s
WHERE a.member_id = s.member_id;

INSERT INTO events (member_id, topic, type, payload, created_at)
SELECT member_id, 'member:' || member_id, 'points.earned',
       jsonb_build_object('member_id', member_id, 'entry', jsonb_build_object('id', id)),
       created_at
FROM entries ORDER BY id;

ALTER TABLE events ENABLE TRIGGER USER;
"""


async def generate(url: str, members: int, earns: int, days: int) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        sql = GENERATE_SQL.format(members=int(members), earns=int(earns), days=int(days))
        for statement in filter(str.strip, sql.split(";")):
            await conn.execute(statement)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def ranks_by_rule(url: str) -> list[int]:
    """The all-time board's member ids best first, by the rule: more points, then the earlier
    last earn, then the smaller id (the bench writes earns only)."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch(
            """SELECT member_id FROM entries WHERE kind = 'earn' GROUP BY member_id
               ORDER BY sum(amount) DESC, max(created_at), member_id"""
        )
    finally:
        await conn.close()
    return [row["member_id"] for row in rows]


async def run(args: argparse.Namespace, database_url: str, redis_url: str) -> bool:
    from ledger import backend_pids, cpu_seconds

    from app.clock import system_clock
    from app.config import Settings
    from app.db import create_engine
    from app.events.horizon import safe_horizon
    from app.leaderboards.boards import board_key, decode_element, get_board
    from app.leaderboards.check import check_board
    from app.leaderboards.projector import apply_pending
    from app.leaderboards.rebuild import kept_periods, ledger_rows, rebuild
    from app.redisclient import open_redis
    from app.runtime import Runtime

    settings = Settings(database_url=database_url, redis_url=redis_url, _env_file=None)  # type: ignore[call-arg]
    engine = create_engine(database_url, pool_size=2)
    redis = open_redis(redis_url, socket_timeout=None)  # reads back sets of a million
    rt = Runtime(settings, engine, redis, system_clock)
    board = get_board("points-earned")
    try:
        live_board = args.members <= args.live_max
        if live_board:
            started = time.perf_counter()
            projected = await apply_pending(rt, batch_size=args.projector_batch)
            print(
                f"live board: the projector applied {projected.events} events in "
                f"{time.perf_counter() - started:.1f}s"
            )
        periods = list(kept_periods(rt, None, None, []))

        async def read_sets() -> dict[str, list[Any]]:
            return {
                p.field: await redis.zrange(board_key(board.name, p), 0, -1, withscores=True)
                for p in periods
            }

        live = await read_sets() if live_board else {}
        sizes = ", ".join(f"{field} {len(members)}" for field, members in live.items())
        print(f"live sets: {sizes or 'not built'}")

        horizon = await safe_horizon(engine, wait_seconds=5)
        assert horizon is not None
        database = asyncpg_dsn(database_url).rsplit("/", 1)[1].split("?")[0]
        redis_pid = int((await redis.info("server"))["process_id"])

        def cpu() -> tuple[float, dict[int, float], float]:
            # This process, each of the database's backends, and the Redis server (shared with
            # whatever else uses it meanwhile).
            backends = {pid: cpu_seconds([pid]) for pid in backend_pids(database)}
            return time.process_time(), backends, cpu_seconds([redis_pid])

        def spent(before: tuple[float, dict[int, float], float]) -> str:
            process, backends, server = cpu()
            # A backend that started meanwhile counts whole; parallel workers that already
            # exited are not counted (the rebuild's read runs from a cursor: none).
            database_cpu = sum(s - before[1].get(pid, 0.0) for pid, s in backends.items())
            return (
                f"CPU s: this process {process - before[0]:.2f}, "
                f"PostgreSQL {database_cpu:.2f}, Redis {server - before[2]:.2f}"
            )

        started, before = time.perf_counter(), cpu()
        rows = 0
        async with ledger_rows(rt, board, periods, horizon, 20_000) as chunks:
            async for chunk in chunks:
                rows += len(chunk)
        floor_seconds = time.perf_counter() - started
        print(
            f"floor (the ledger's sums for {rows} members, no Redis): {floor_seconds:.1f}s; "
            f"{spent(before)}",
            flush=True,
        )

        started, before = time.perf_counter(), cpu()
        rebuilt_report = await rebuild(rt, board.name)
        seconds = time.perf_counter() - started
        print(f"rebuild: {seconds:.1f}s; {spent(before)}", flush=True)
        rebuilt = await read_sets()
        members = max(rebuilt_report.periods.values(), default=0)
        print(
            f"\nrebuild: {rebuilt_report.periods} in {seconds:.1f}s "
            f"({members / seconds:.0f} members/s on the largest set); "
            f"rebuild / floor: {seconds / floor_seconds:.2f}"
        )
        if live_board:
            same = rebuilt == live
            print(f"rebuilt sets equal the live ones (elements and scores, so ranks): {same}")
        else:
            all_time = next(p for p in periods if p.start is None)
            ranked = [
                decode_element(cast(bytes, e))[0]
                for e in await redis.zrevrange(board_key(board.name, all_time), 0, -1)
            ]
            same = ranked == await ranks_by_rule(database_url)
            print(f"rebuilt all-time ranks equal the rule's ranks in SQL: {same}")
        differences = await check_board(rt, board.name)
        print(f"check_board differences: {len(differences.differences)}")
        return same and not differences.differences
    finally:
        await redis.aclose()
        await engine.dispose()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--earns", type=int, default=2, help="earns per member")
    parser.add_argument("--days", type=int, default=60, help="earned over the last N days")
    parser.add_argument("--projector-batch", type=int, default=10_000)
    parser.add_argument(
        "--live-max", type=int, default=200_000, help="most members to build a live board for"
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--reuse", action="store_true", help="keep the database of the last run (no generation)"
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    database_url, redis_url, _out, _run_id = prepare_stage(
        "rebuild", DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, args.out
    )
    print(f"load average before the run: {load_average()} (other work skews the figures)")
    if not args.reuse:
        started = time.perf_counter()
        asyncio.run(generate(database_url, args.members, args.earns, args.days))
        print(
            f"generated {args.members} members with {args.earns} earns each in "
            f"{time.perf_counter() - started:.1f}s",
            flush=True,
        )
    same = asyncio.run(run(args, database_url, redis_url))
    ok, report = asyncio.run(audit(database_url))
    print(f"machine: load average after the run {load_average()}")
    print("\nledger audit:\n" + report)
    return 0 if ok and same else 1


if __name__ == "__main__":
    sys.exit(main())
