"""CPU of the relay's publishing alone: ``EventHub.publish_many`` of a round's events, in-process.

    python bench/publish_cpu.py                  # rounds of 10 events (1,000 earns/s, 10 ms apart)
    python bench/publish_cpu.py --batch 1 --rounds 5000

bench/relay_cpu.py measures the whole relay, but its rounds' size follows the writer's rate, which
a loaded machine moves; this holds the round fixed. A hub on ``JIFEN_REDIS_URL`` publishes
``--rounds`` batches of ``--batch`` event-sized messages (one channel per earn's topic, no
subscriber), one batch after another; printed: this process's CPU per round and per event,
seven repetitions and their median, Redis' own CPU per event over them (its process on this
machine, from /proc), and the load average. The baseline is the same command run
from a checkout of the older commit, alternating.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path.cwd()
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from ledger import cpu_seconds, load_average  # noqa: E402

# An earn's event as the relay sends it (app/events/relay.py's event_message), ~330 bytes.
MESSAGE = (
    '{"id":123456789,"topic":"member:1234567","type":"points.earned",'
    '"created_at":"2026-12-05T10:27:00.123456+00:00","payload":{"entry":{"id":987654321,'
    '"member_id":1234567,"kind":"earn","amount":5,"reason":"bench earn",'
    '"created_at":"2026-12-05T10:27:00.123456+00:00"},"balance":{"available":12345}}}'
)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--batch", type=int, default=10, help="events per round")
    parser.add_argument("--rounds", type=int, default=2_000)
    args = parser.parse_args()

    from app.events.broadcast import EventHub

    hub = EventHub.from_settings(os.environ["JIFEN_REDIS_URL"], f"bench:{uuid.uuid4().hex}:", 10)
    await hub.connect()
    batch = [(f"member:{1000 + i}", MESSAGE) for i in range(args.batch)]
    print(f"load average before: {load_average()}; tree {ROOT}")
    per_round: list[float] = []
    # Redis' own CPU too (a script moves work from the client into Redis): its process on this
    # machine, named by INFO, read from /proc over the seven repetitions.
    info = await hub.backend._client().info("server")  # type: ignore[attr-defined]
    redis_pid = int(info["process_id"])
    try:
        for _ in range(50):  # warm: the connection, the script's first load
            await hub.publish_many(batch)
        redis_cpu = cpu_seconds([redis_pid])
        for _ in range(7):
            cpu = time.process_time()
            for _ in range(args.rounds):
                await hub.publish_many(batch)
            per_round.append((time.process_time() - cpu) / args.rounds * 1e6)
        redis_cpu = cpu_seconds([redis_pid]) - redis_cpu
    finally:
        await hub.disconnect()
    median = statistics.median(per_round)
    print(f"  per round: {', '.join(f'{r:.0f}' for r in per_round)} µs")
    print(
        f"publish_many of {args.batch}: median {median:.0f} µs CPU per round, "
        f"{median / args.batch:.1f} µs per event"
    )
    redis_per_event = redis_cpu / (7 * args.rounds * args.batch) * 1e6
    print(f"Redis (pid {redis_pid}): {redis_per_event:.1f} µs CPU per event over the seven")
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    asyncio.run(main())
