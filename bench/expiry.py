"""Expiry sweep benchmark: 1,000,000 lots of which 200,000 are due; the sweep's speed and what it
does to the API's latency.

    python bench/expiry.py                       # the full run (a few minutes)
    python bench/expiry.py --lots 100000 --due 20000 --members 10000 --duration 10   # quick

What it does, in one run:

1. Takes PostgreSQL and Redis from ``JIFEN_DATABASE_URL`` / ``JIFEN_REDIS_URL``; by default it
   (re)creates the database ``jifen_bench_h7_expiry`` on the local PostgreSQL and uses Redis
   database 7 (flushed). Migrates, registers ``--members`` members with bulk SQL, then writes
   ``--lots`` earned lots (``--lots / --members`` per member: 50 for 20,000 members) of which
   ``--due / --members`` per member are past their expiry, with ``generate_series``: the
   entries, their transfers from ``issuance``, the lots and the members' balances, exactly as
   ``earnPoints`` would have left them (the audit passes before the sweep, noting the due
   points).
2. Starts ``jifen serve --workers 2`` (scheduled jobs off, so nothing sweeps behind our back).
3. Baseline: ``wrk`` with ``me { balance { available } }`` for ``--duration`` seconds (no sweep).
4. The floor, in the same run: the rows a sweep writes, with the same content (lots emptied;
   an entry listing its lots, a transfer and an event with the entry and the balance per
   member; an allocation per lot; the accounts' balances and next due moments) by one plain
   statement a batch of ``--batch`` members, each rolled back (then ``VACUUM``): what this
   machine, loaded as it is now, needs for the writes themselves.
5. The sweep (``settle_due_accounts``, batches of ``--batch`` accounts) in its own process,
   with the same ``wrk`` load during its first ``--duration`` seconds; the sweep's wall time
   and lots per second are its own, measured in that process.
6. Checks: every due lot expired exactly once, the audit passes with nothing left to note.
   Prints the table, the ratio of the two p99 latencies and the sweep's time over the floor's.

The year-end clearing (年底清零: every member's last-year points expire at one instant) is the
same run with one due lot among two per member on 1,000,000 members::

    python bench/expiry.py --members 1000000 --lots 2000000 --due 1000000

Needs ``wrk`` (Debian: ``apt-get install wrk``). Everything talks to loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import asyncpg

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for _path in (str(ROOT), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from ledger import (  # noqa: E402  (bench/ledger.py: shared set-up, server, wrk and audit helpers)
    Result,
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

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/jifen_bench_h7_expiry"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
LOT_POINTS = 10
SWEEP_APP = "jifen-bench-sweep"
REGISTER_CHUNK = 1_000

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

INSERT INTO transfers (entry_id, debit_account_id, credit_account_id, amount, created_at)
SELECT e.id, (SELECT id FROM accounts WHERE code = 'issuance'), a.id, e.amount, e.created_at
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
    INSERT INTO transfers (entry_id, debit_account_id, credit_account_id, amount, created_at)
    SELECT p.id, a.id, (SELECT id FROM accounts WHERE code = 'bank'), -p.amount, now()
    FROM posted p JOIN accounts a ON a.member_id = p.member_id
), allocated AS (
    INSERT INTO allocations (lot_id, amount, entry_id)
    SELECT due.id, due.remaining, p.id FROM due JOIN posted p ON p.member_id = due.member_id
), announced AS (
    INSERT INTO events (topic, type, payload)
    SELECT 'member:' || member_id, 'points.expired', jsonb_build_object(
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


async def sweep(database_url: str, redis_url: str, batch: int) -> dict[str, Any]:
    from redis.asyncio import Redis
    from sqlalchemy import text

    from app.clock import system_clock
    from app.config import Settings
    from app.db import create_engine
    from app.ledger.usecases import settle_due_accounts
    from app.runtime import Runtime

    settings = Settings(database_url=database_url, redis_url=redis_url, _env_file=None)  # type: ignore[call-arg]
    engine = create_engine(database_url, pool_size=1, application_name=SWEEP_APP)
    redis = Redis.from_url(redis_url)
    try:
        async with engine.connect() as conn:  # the sweep's one connection, opened ahead
            pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        backend, process = cpu_seconds([pid]), time.process_time()
        started = time.perf_counter()
        result = await settle_due_accounts(
            Runtime(settings, engine, redis, system_clock), batch=batch
        )
        seconds = time.perf_counter() - started
        backend, process = cpu_seconds([pid]) - backend, time.process_time() - process
    finally:
        await redis.aclose()
        await engine.dispose()
    return {**asdict(result), "seconds": seconds, "pg_cpu": backend, "python_cpu": process}


def start_sweep(database_url: str, redis_url: str, batch: int, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--sweep-only",
            "--batch",
            str(batch),
            "--result",
            str(out / "sweep.json"),
        ],
        cwd=ROOT,
        env={**os.environ, "JIFEN_DATABASE_URL": database_url, "JIFEN_REDIS_URL": redis_url},
        text=True,
    )


# ------------------------------------------------------------------------------------ main


def print_table(
    baseline: Result, during: Result, swept: dict[str, Any], floor_cost: tuple[float, float]
) -> float:
    ratio = during.p99_ms / baseline.p99_ms if baseline.p99_ms else float("inf")
    print("\n| measure | requests/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|")
    for r in (baseline, during):
        print(f"| {r.name} | {r.rps:.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.errors} |")
    lots_per_second = swept["expired_lots"] / swept["seconds"] if swept["seconds"] else 0.0
    print(
        f"\nsweep: {swept['expired_lots']} lots ({swept['expired']} points) of "
        f"{swept['accounts']} accounts in {swept['seconds']:.1f}s = {lots_per_second:.0f} lots/s, "
        f"{swept['accounts'] / swept['seconds']:.0f} accounts/s, {swept['batches']} batches"
    )
    floor_seconds, floor_cpu = floor_cost
    print(
        f"floor (the same rows by plain statements, in the same batches): {floor_seconds:.1f}s = "
        f"{swept['expired_lots'] / floor_seconds:.0f} lots/s; the sweep's time / the floor's: "
        f"{swept['seconds'] / floor_seconds:.2f}"
    )
    print(
        f"CPU seconds (steadier than wall time on a shared machine): the sweep's PostgreSQL "
        f"backend {swept['pg_cpu']:.1f} + its Python process {swept['python_cpu']:.1f}; the "
        f"floor's backend {floor_cpu:.1f}; sweep / floor: "
        f"{(swept['pg_cpu'] + swept['python_cpu']) / floor_cpu:.2f} "
        f"({1e6 * (swept['pg_cpu'] + swept['python_cpu']) / swept['expired_lots']:.0f} µs a lot, "
        f"the floor {1e6 * floor_cpu / swept['expired_lots']:.0f})"
    )
    print(f"p99 during the sweep / p99 without it: {ratio:.2f}")
    return ratio


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lots", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=200_000)
    parser.add_argument("--members", type=int, default=20_000, help="50 lots each by default")
    parser.add_argument("--batch", type=int, default=1000, help="accounts per sweep transaction")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of wrk per phase")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--tokens", type=int, default=500, help="member tokens for wrk")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--sweep-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.sweep_only:
        swept = asyncio.run(
            sweep(os.environ["JIFEN_DATABASE_URL"], os.environ["JIFEN_REDIS_URL"], args.batch)
        )
        args.result.write_text(json.dumps(swept))
        return 0
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
    started = time.perf_counter()
    member_ids: list[int] = []
    for chunk in range(0, args.members, REGISTER_CHUNK):  # one topic lock per event: chunks
        count = min(REGISTER_CHUNK, args.members - chunk)
        member_ids += asyncio.run(register_members(database_url, count, f"{run_id}-{chunk}"))
    asyncio.run(generate_lots(database_url, args.lots // args.members, args.due // args.members))
    before = asyncio.run(lot_facts(database_url))
    print(
        f"generated {before['lots']} lots ({before['due']} due) for {len(member_ids)} members "
        f"in {time.perf_counter() - started:.1f}s"
    )

    floor_cost = asyncio.run(floor(database_url, member_ids, args.batch))
    print(
        f"floor: {floor_cost[0]:.1f}s ({floor_cost[1]:.1f}s of PostgreSQL CPU) for the sweep's "
        "writes (rolled back)",
        flush=True,
    )

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
    wrk_env = {"BENCH_TOKENS": str(tokens_file)}
    options = {"connections": args.connections, "threads": args.threads}
    server = Server(env, args.workers, out / "server.log")
    try:
        server.wait_ready()
        print(f"server {server.url} ready", flush=True)
        run_wrk(BENCH_DIR / "balance.lua", server.url, wrk_env, seconds=3, **options)  # warm-up
        baseline = wrk_result(
            "balance, no sweep",
            run_wrk(
                BENCH_DIR / "balance.lua", server.url, wrk_env, seconds=args.duration, **options
            ),
        )
        print(f"  baseline: {baseline.rps:.0f} req/s, p99 {baseline.p99_ms:.1f} ms", flush=True)
        sweeper = start_sweep(database_url, redis_url, args.batch, out)
        during = wrk_result(
            "balance, during the sweep",
            run_wrk(
                BENCH_DIR / "balance.lua", server.url, wrk_env, seconds=args.duration, **options
            ),
        )
        still_running = sweeper.poll() is None
        sweeper.wait()
    finally:
        server.stop()
    if sweeper.returncode != 0:
        print("error: the sweep failed", file=sys.stderr)
        return 1
    swept = json.loads((out / "sweep.json").read_text())
    if not still_running:
        print("note: the sweep finished before the measured load did (p99 covers some idle time)")
    after = asyncio.run(lot_facts(database_url))
    ok, report = asyncio.run(audit(database_url))
    ratio = print_table(baseline, during, swept, floor_cost)
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
                "baseline": {**asdict(baseline), "rps": baseline.rps},
                "during": {**asdict(during), "rps": during.rps},
                "sweep": swept,
                "ratio": ratio,
                "floor_seconds": floor_cost[0],
                "floor_pg_cpu": floor_cost[1],
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
