"""CPU of the webhook dispatcher, in-process: per dispatch pass and per event.

    python bench/dispatch_cpu.py                          # 10 events a pass (a commit's worth)
    python bench/dispatch_cpu.py --events 50              # a gathered pass (50 ms at 1,000/s)

Run from a tree's root (its app/ is imported from the working directory) on
``JIFEN_DATABASE_URL``, a database this bench may fill (it is migrated; its webhook tables are
emptied), the same set-up as ``bench/webhooks.py --direct``: ten partner endpoints, each scoped
to its own channel, ``--members`` members spread over the channels, ``points.earned`` events
with the ledger's payload committed straight to the outbox in transactions of 10. Each pass
commits ``--events`` events, then times one ``dispatch_pending`` (what the worker runs at each
wake-up): this process's CPU (``time.process_time``: the pass's Python, SQLAlchemy and asyncpg
client side; PostgreSQL's own work is not in it) and its wall time. Printed: the median over
``--repetitions`` of CPU a pass and an event, wall a pass, and the load average. The baseline is
the same command run from a checkout of the older commit, alternating.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path.cwd()
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from ledger import load_average, register_members  # noqa: E402

if TYPE_CHECKING:
    from app.config import Settings

ENDPOINTS = 10
COMMIT = 10  # events a transaction, as bench/webhooks.py --direct


async def setup(url: str, members: int) -> list[int]:
    """Ten partner endpoints (one channel each) and the members linked to them."""
    from sqlalchemy import text
    from webhooks import link_partners, partner_channel

    from app.auth.principal import Principal, Role
    from app.clock import system_clock
    from app.config import Settings
    from app.db import create_engine, unit_of_work
    from app.webhooks.endpoints import WebhookEndpoints

    run_id = uuid.uuid4().hex[:8]
    ids = await register_members(url, members, run_id)
    await link_partners(url, {m: i % ENDPOINTS for i, m in enumerate(ids)}, run_id)
    engine = create_engine(url, pool_size=1)
    settings = Settings(webhook_allowed_networks=["127.0.0.1/32"])
    staff = Principal.staff("bench", {Role.ADMIN})
    try:
        async with unit_of_work(engine) as conn:
            await conn.execute(
                text("TRUNCATE webhook_attempts, webhook_leases, webhook_messages, webhook_cursor")
            )
            await conn.execute(text("UPDATE webhook_endpoints SET enabled = false"))
            for k in range(ENDPOINTS):
                await WebhookEndpoints(conn, system_clock, settings).create(
                    staff,
                    f"http://127.0.0.1:9/ep{k}",
                    ["points.earned"],
                    channel=partner_channel(k),
                )
    finally:
        await engine.dispose()
    return ids


async def commit_events(engine: object, members: list[int], start: int, count: int) -> None:
    from app.events.outbox import member_topic
    from app.events.tables import events

    for first in range(start, start + count, COMMIT):
        rows = []
        for n in range(first, min(first + COMMIT, start + count)):
            member = members[n % len(members)]
            rows.append(
                {
                    "member_id": member,
                    "topic": member_topic(member),
                    "type": "points.earned",
                    "payload": {
                        "entry": {"id": n, "kind": "earn", "amount": 1},
                        "balance": {"total": 1, "available": 1},
                        "member_id": member,
                    },
                }
            )
        async with engine.begin() as conn:  # type: ignore[attr-defined]
            await conn.execute(events.insert(), rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=10, help="events a dispatch pass")
    parser.add_argument("--passes", type=int, default=200, help="passes a repetition")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--members", type=int, default=1_000)
    args = parser.parse_args()

    from app.config import Settings
    from app.migrate import upgrade

    settings = Settings()
    if settings.database_url is None:
        raise SystemExit("set JIFEN_DATABASE_URL (and JIFEN_REDIS_URL)")
    upgrade(settings.database_url)
    asyncio.run(measure(args, settings))


async def measure(args: argparse.Namespace, settings: Settings) -> None:
    from app.cli import open_runtime
    from app.members.service import channels_of_members
    from app.webhooks.dispatch import dispatch_pending

    url = settings.database_url
    assert url is not None
    members = await setup(url, args.members)
    print(f"load average before: {load_average()}")
    cpu_a_pass, wall_a_pass = [], []
    made = 0
    async with open_runtime(settings, pool_size=2) as rt:
        await dispatch_pending(rt, channels_of_members)  # the cursor, warm statements
        for repetition in range(args.repetitions):
            cpu = wall = 0.0
            for n in range(args.passes):
                await commit_events(
                    rt.engine, members, (repetition * args.passes + n) * 1000, args.events
                )
                began_cpu, began = time.process_time(), time.perf_counter()
                made += await dispatch_pending(rt, channels_of_members)
                cpu += time.process_time() - began_cpu
                wall += time.perf_counter() - began
            cpu_a_pass.append(cpu / args.passes)
            wall_a_pass.append(wall / args.passes)
    expected = args.repetitions * args.passes * args.events
    assert made == expected, f"{made} messages made, {expected} expected"
    cpu_ms = statistics.median(cpu_a_pass) * 1000
    print(f"load average after: {load_average()}")
    print(
        f"{args.events} events a pass, {args.passes} passes x {args.repetitions}:"
        f" CPU {cpu_ms:.2f} ms a pass (runs: {', '.join(f'{c * 1000:.2f}' for c in cpu_a_pass)}),"
        f" {cpu_ms / args.events:.3f} ms an event;"
        f" wall {statistics.median(wall_a_pass) * 1000:.1f} ms a pass"
    )


if __name__ == "__main__":
    main()
