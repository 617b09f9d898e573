"""A flash sale's winners only, in process: how fast the database places orders on one item.

    python bench/flash_winners.py --winners 1000

The rush's buyers that the gate lets through all place an order on the same item, so they
meet on its row. This places ``--winners`` orders at once through the use case (no HTTP, no
gate: every buyer wins), in two rounds on fresh members:

(a) **hot**: every order on one item with exactly that stock — the flash sale's winners;
(b) **spread** (the baseline, same run): the same number of orders, each on an item of its own,
    so no two share a row — the same work without the hot spot.

For each: orders per second, the time until the last one committed, CPU per order (this
process and this database's PostgreSQL backends, from /proc), SQL statements per order (counted
on the engine, as tests/statements.py does: BEGIN and COMMIT are not among them) and the load
average. The ratio
hot / spread says what the shared row costs. Then the ledger audit, with the mall's checks.
Database and Redis from ``JIFEN_DATABASE_URL`` / ``JIFEN_REDIS_URL`` (the bench's own
``jifen_flash_winners`` and Redis db 6 otherwise, recreated and flushed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for _path in (str(ROOT), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from flash_sale import give_points  # noqa: E402
from ledger import (  # noqa: E402
    asyncpg_dsn,
    backend_pids,
    cpu_seconds,
    load_average,
    prepare_stage,
    register_members,
)

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/jifen_flash_winners"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/6"


async def rounds(database_url: str, redis_url: str, winners: int, run_id: str) -> bool:
    from redis.asyncio import Redis
    from sqlalchemy import event

    from app.clock import SystemClock
    from app.config import Settings
    from app.db import create_engine
    from app.ledger.audit import audit_ledger
    from app.ledger.models import Actor
    from app.mall import usecases as mall
    from app.mall.catalogue import ItemSpec, create_item
    from app.mall.policy import ItemKind
    from app.runtime import Runtime

    settings = Settings(database_url=database_url, redis_url=redis_url, _env_file=None)  # type: ignore[call-arg]
    engine = create_engine(database_url, pool_size=settings.db_pool_size)
    redis = Redis.from_url(redis_url)
    rt = Runtime(settings=settings, engine=engine, redis=redis, clock=SystemClock())
    staff = Actor("staff:bench", "bench")
    spec = ItemSpec(code="x", name="Gift", kind=ItemKind.GOODS, points_price=100)
    database = asyncpg_dsn(database_url).rsplit("/", 1)[1].split("?")[0]
    print(
        f"{'round':8} {'orders':>7} {'orders/s':>9} {'last commit s':>14} {'CPU ms':>7} "
        f"{'statements':>10}  load"
    )
    rates = {}
    statements = [0]

    def count(*_: object) -> None:
        statements[0] += 1

    try:
        for name in ("hot", "spread"):
            buyers = await register_members(database_url, winners, f"{run_id}-{name}")
            await give_points(database_url, buyers)
            if name == "hot":
                one = await create_item(rt, staff, replace(spec, code=f"{run_id}-hot"), winners)
                items = [one.id] * winners
            else:
                items = [
                    (await create_item(rt, staff, replace(spec, code=f"{run_id}-{n}"), 1)).id
                    for n in range(winners)
                ]

            async def buy(member: int, item: int) -> None:
                await mall.place_redemption(
                    rt,
                    Actor(f"member:{member}", "bench"),
                    member_id=member,
                    item_id=item,
                    quantity=1,
                    idempotency_key=f"{run_id}-{member}",
                )

            counted = [os.getpid(), *backend_pids(database)]
            load, cpu = load_average().split()[0], cpu_seconds(counted)
            statements[0] = 0
            event.listen(engine.sync_engine, "before_cursor_execute", count)
            started = time.perf_counter()
            await asyncio.gather(*(buy(m, i) for m, i in zip(buyers, items, strict=True)))
            elapsed = time.perf_counter() - started
            event.remove(engine.sync_engine, "before_cursor_execute", count)
            new = [p for p in backend_pids(database) if p not in counted]
            used = cpu_seconds(counted) - cpu + cpu_seconds(new)
            rates[name] = winners / elapsed
            print(
                f"{name:8} {winners:7d} {rates[name]:9.0f} {elapsed:14.2f} "
                f"{1000 * used / winners:7.2f} {statements[0] / winners:10.1f}  "
                f"{load} -> {load_average().split()[0]}",
                flush=True,
            )
        print(f"ratio hot / spread (orders per second): {rates['hot'] / rates['spread']:.2f}")
        report = await audit_ledger(engine, rt.clock.now())
        print("ledger audit " + ("passed" if report.ok else "FAILED:\n" + report.render()))
        return report.ok
    finally:
        await engine.dispose()
        await redis.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--winners", type=int, default=1_000)
    args = parser.parse_args()
    stage = prepare_stage("winners", DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, None)
    print(f"load average before: {load_average()}")
    ok = asyncio.run(rounds(stage.database_url, stage.redis_url, args.winners, stage.run_id))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
