"""CPU per event of the leaderboard projector, in-process, on a loaded machine.

    python bench/projector_cpu.py                       # 5 rounds of 500 earns
    python bench/projector_cpu.py --rounds 7 --earns 250

Each round writes ``--earns`` earns (the API's one statement, ``ledger_post_credit()``, from
this process, not measured), then times one :func:`apply_pending` over exactly those events
(the board's cursor is set just before them): this process's CPU per event (the round's
statements' client side, the changes computed, the Lua call packed and parsed, the notices).
Under ``bench/ledger.py`` at 1,000 earns/s each worker's projector round (every 0.5 s) reads a
few hundred events, hence the default. Printed: the CPU per event of each round, their median,
and the load average. The baseline is the same command run from a checkout of the older commit,
alternating. Database and Redis: ``JIFEN_DATABASE_URL`` (migrated here) and ``JIFEN_REDIS_URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path.cwd()
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from ledger import (  # noqa: E402
    JWT_SECRET,
    asyncpg_dsn,
    earn_function,
    load_average,
    register_members,
)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--earns", type=int, default=500, help="events per projector round")
    parser.add_argument("--members", type=int, default=2_000)
    args = parser.parse_args()

    import asyncpg

    from app.cli import open_runtime
    from app.config import Settings
    from app.leaderboards.boards import POINTS_EARNED, cursor_key
    from app.leaderboards.projector import apply_pending

    database_url, redis_url = os.environ["JIFEN_DATABASE_URL"], os.environ["JIFEN_REDIS_URL"]
    run = f"projector-{uuid.uuid4().hex[:8]}"
    members = await register_members(database_url, args.members, run)
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        jwt_secret=JWT_SECRET,
        data_dir=Path(tempfile.mkdtemp(prefix="jifen-projector-")),
        log_level="WARNING",
        jobs_enabled=False,
        _env_file=None,  # type: ignore[call-arg]
    )
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    print(f"load average before: {load_average()}; tree {ROOT}")
    per_event: list[float] = []
    try:
        async with open_runtime(settings) as rt:
            for r in range(args.rounds):
                before = int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM events"))
                for i in range(args.earns):
                    await earn_function(conn, members[i % len(members)], 5, f"{run}-{r}-{i}")
                await rt.redis.set(cursor_key(POINTS_EARNED.name), before)
                cpu = time.process_time()
                report = await apply_pending(rt, [POINTS_EARNED.name])
                spent = time.process_time() - cpu
                if report.events != args.earns:
                    raise SystemExit(f"applied {report.events} events, not {args.earns}")
                per_event.append(spent / args.earns * 1e6)
                print(f"  round {r + 1}: {per_event[-1]:7.1f} µs CPU per event")
    finally:
        await conn.close()
    print(f"projector: median {statistics.median(per_event):.1f} µs CPU per event")
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    from app.migrate import upgrade

    upgrade(os.environ["JIFEN_DATABASE_URL"])  # alembic runs its own event loop
    asyncio.run(main())
