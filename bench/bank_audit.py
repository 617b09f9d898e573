"""The points bank's audit checks on a year-end shaped ledger: each check's time, this tree's
against a baseline tree's, on the same data.

    python bench/bank_audit.py --before /tmp/main-worktree            # 700,000 members
    python bench/bank_audit.py --before /tmp/main-worktree --members 50000 --keep   # quick

1. Takes PostgreSQL from ``JIFEN_DATABASE_URL``, by default (re)creating
   ``jifen_bench_bank_audit``; migrates; registers ``--members`` members with the bench's bulk
   SQL and writes two earned lots each (bench/expiry.py's ``generate_lots``: an entry and a
   transfer from ``issuance`` each), then one expiry each into the bank (an entry and a
   transfer to ``bank``): three transfers a member. ``--keep`` reuses a database already built.
2. For each of ``LIFECYCLE_CHECKS`` that names the bank, ``EXPLAIN (ANALYZE, BUFFERS)`` of it as
   the audit runs it (``LIMIT 20``), this tree's then the ``--before`` tree's (a ``git
   worktree`` of main), in turn: both times, their ratio, and whether either spilled to disk.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import asyncpg

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path[:0] = [str(ROOT), str(BENCH_DIR)]

from expiry import generate_lots  # noqa: E402
from ledger import asyncpg_dsn, load_average, register_members  # noqa: E402

from app.migrate import upgrade  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/jifen_bench_bank_audit"
REGISTER_CHUNK = 1_000  # one chunk a transaction, as bench/expiry.py (its events' locks)

EXPIRE_INTO_BANK = """
WITH posted AS (
    INSERT INTO entries (member_id, kind, amount, balance_after, reason, source, actor,
                         created_by_kind, details, created_at)
    SELECT member_id, 'expiry', -10, 10, 'points expired', 'jobs', 'system:jobs', 'system',
           '{}'::jsonb, now()
    FROM accounts WHERE kind = 'member' ORDER BY member_id
    RETURNING id, member_id, amount
)
INSERT INTO transfers (entry_id, member_id, debit_account_id, credit_account_id, amount,
                       created_at)
SELECT p.id, p.member_id, a.id, (SELECT id FROM programme_accounts WHERE code = 'bank'),
       -p.amount, now()
FROM posted p JOIN accounts a ON a.member_id = p.member_id
"""

# Each tree's checks, read by a process of its own (the two trees share module names).
CHECKS_OF_TREE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from app.lifecycle.audit import LIFECYCLE_CHECKS
print(json.dumps({name: sql for name, sql in LIFECYCLE_CHECKS.items() if "bank" in name}))
"""


async def build(url: str, members: int) -> None:
    admin = await asyncpg.connect(asyncpg_dsn(url).rsplit("/", 1)[0] + "/postgres")
    name = url.rsplit("/", 1)[1]
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    await asyncio.to_thread(upgrade, url)  # Alembic's env.py runs a loop of its own
    for start in range(0, members, REGISTER_CHUNK):
        await register_members(url, min(REGISTER_CHUNK, members - start), f"bank-audit-{start}")
    await generate_lots(url, 2, 1)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(EXPIRE_INTO_BANK)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def checks_of(tree: Path) -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, "-c", CHECKS_OF_TREE, str(tree)], capture_output=True, text=True
    )
    checks: dict[str, str] = json.loads(out.stdout)
    return checks


async def timed(url: str, sql: str) -> tuple[float, bool]:
    """The check's execution time in ms, as EXPLAIN ANALYZE gives it, and whether it spilled."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        plan = "\n".join(
            row[0] for row in await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql} LIMIT 20")
        )
    finally:
        await conn.close()
    found = re.search(r"Execution Time: ([0-9.]+) ms", plan)
    return float(found.group(1)) if found else float("nan"), "temp written" in plan


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="a worktree of main")
    parser.add_argument("--members", type=int, default=700_000)
    parser.add_argument("--keep", action="store_true", help="reuse the database as built")
    args = parser.parse_args()
    url = os.environ.get("JIFEN_DATABASE_URL", DEFAULT_DATABASE_URL)
    if not args.keep:
        await build(url, args.members)
    after, before = checks_of(ROOT), checks_of(args.before)
    print(f"load average {load_average()}")
    for name, sql in after.items():
        now_ms, now_spilled = await timed(url, sql)
        then_ms, then_spilled = await timed(url, before[name])
        print(
            f"{name}: {now_ms:,.0f} ms{' (spilled)' if now_spilled else ''} against "
            f"{then_ms:,.0f} ms{' (spilled)' if then_spilled else ''} before: "
            f"{now_ms / then_ms:.2f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
