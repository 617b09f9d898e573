"""CPU per event of the outbox relay, in-process, on a loaded machine.

    python bench/relay_cpu.py                    # 2,000 events, one per commit, 200 commits/s
    python bench/relay_cpu.py --events 4000 --rate 300
    python bench/relay_cpu.py --per-commit 5     # five events a commit, as a demo check-in

A relay leads in this process (the tree's app/events/relay.py, on ``JIFEN_DATABASE_URL``, an
already migrated database, and ``JIFEN_REDIS_URL``); another process commits one event per
transaction (``--per-commit`` events: a demo check-in writes five) at a steady rate, as
check-ins do, so the relay wakes once per commit (a NOTIFY each). Printed: this process's CPU
per event published (the relay's loop, its statements' client side, the Redis publish), the
events per wake, and the load average. The baseline is the same command run from a checkout of
the older commit, alternating (``cd`` there and run this file: the app is the one in the
current directory).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path.cwd()
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from ledger import load_average  # noqa: E402

WRITER = """
import asyncio, sys, time
import asyncpg

async def main(dsn, topic, events, rate, per_commit):
    conn = await asyncpg.connect(dsn)
    start = time.perf_counter()
    for i in range(events // per_commit):
        await conn.execute(
            "INSERT INTO events (member_id, topic, type, payload)"
            " SELECT 0, $1, 'bench.event', '{}'::jsonb FROM generate_series(1, $2)",
            topic, per_commit,
        )
        pause = start + (i + 1) / rate - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)
    await conn.close()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])))
"""


async def until(done: Callable[[], bool]) -> None:
    while True:
        if done():
            return
        await asyncio.sleep(0.01)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=2_000)
    parser.add_argument("--rate", type=float, default=200.0, help="commits per second")
    parser.add_argument("--per-commit", type=int, default=1, help="events each commit writes")
    args = parser.parse_args()

    import asyncpg

    from app.events.broadcast import EventHub
    from app.events.relay import Relay, asyncpg_dsn

    database_url, redis_url = os.environ["JIFEN_DATABASE_URL"], os.environ["JIFEN_REDIS_URL"]
    dsn = asyncpg_dsn(database_url)
    topic = f"bench:relay:{uuid.uuid4().hex[:8]}"
    hub = EventHub.from_settings(redis_url, f"bench:{uuid.uuid4().hex}:", 100)
    await hub.connect()
    relay = Relay(database_url, hub, poll_seconds=1.0, name="bench")
    task = asyncio.create_task(relay.run())
    await until(lambda: relay.is_leader)
    await asyncio.sleep(0.5)  # the backlog, if any, published before measuring
    published_before = relay.stats.published
    wakes = 0
    publish_batch = relay.publish_batch

    async def counted(conn: asyncpg.Connection) -> int:
        nonlocal wakes
        wakes += 1
        return await publish_batch(conn)

    relay.publish_batch = counted  # type: ignore[method-assign]
    print(f"load average before: {load_average()}; tree {ROOT}")
    ours, started = time.process_time(), time.perf_counter()
    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WRITER,
        dsn,
        topic,
        str(args.events),
        str(args.rate),
        str(args.per_commit),
    )
    await writer.wait()
    sent = args.events // args.per_commit * args.per_commit
    await until(lambda: relay.stats.published - published_before >= sent)
    cpu = time.process_time() - ours
    wall = time.perf_counter() - started
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await hub.disconnect()
    conn = await asyncpg.connect(dsn)
    await conn.execute("DELETE FROM events WHERE topic = $1", topic)
    await conn.close()
    events = relay.stats.published - published_before
    print(
        f"relay: {events} events in {wall:.1f} s, {wakes} rounds "
        f"({events / max(wakes, 1):.2f} events per round), "
        f"CPU per event {cpu / events * 1e3:.3f} ms"
    )
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    asyncio.run(main())
