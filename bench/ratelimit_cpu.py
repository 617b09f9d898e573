"""CPU per call of the GraphQL rate limit's Redis hit, in-process, beside a bare PING.

    python bench/ratelimit_cpu.py                  # 7 repetitions of 5,000 calls each
    python bench/ratelimit_cpu.py --calls 2000

Every request the API serves counts against its caller's budget with one
``MovingWindowRateLimiter.hit`` (app/graphql/core/ratelimit.py): the limiter is the app's own,
made by :func:`app.limiting.moving_window` on ``JIFEN_REDIS_URL``, and the budget the member's
(``Settings.rate_limit_member``), spread over 1,000 callers so that none runs out. Three paths are
timed in turn, ``--calls`` calls each, per repetition:

* ``ping``: a bare ``PING`` on a redis-py client with the same kind of pool: the baseline, one
  round trip of redis-py;
* ``script``: the library's own moving-window script object called directly (what ``hit`` ends in);
* ``hit``: ``limiter.hit(budget, "graphql", caller)``, as the API calls it.

Printed: this process's CPU per call of each path (seven repetitions and their median), the ratio
of ``hit`` to ``ping``, whether redis-py found hiredis, and the load average. For hiredis's share
run it twice alternating, once with ``PYTHONPATH`` pointing at a directory whose ``hiredis``
package raises ImportError (bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path.cwd()
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from ledger import load_average  # noqa: E402

CALLERS = 1_000


async def timed(calls: int, call: Callable[[int], Awaitable[object]]) -> float:
    cpu = time.process_time()
    for i in range(calls):
        await call(i)
    return (time.process_time() - cpu) / calls * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=5_000, help="calls per path and repetition")
    parser.add_argument("--repetitions", type=int, default=7)
    args = parser.parse_args()

    from limits import parse
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.utils import HIREDIS_AVAILABLE

    from app.config import Settings
    from app.limiting import moving_window

    redis_url = os.environ["JIFEN_REDIS_URL"]
    settings = Settings()
    limiter = moving_window(settings, redis_url)
    budget = parse(settings.rate_limit_member)
    run = uuid.uuid4().hex
    callers = [f"bench:{run}:{i}" for i in range(CALLERS)]
    client = Redis(connection_pool=BlockingConnectionPool.from_url(redis_url, max_connections=10))
    storage = limiter.storage
    bridge = storage.bridge  # type: ignore[attr-defined]
    script = bridge.lua_acquire_moving_window
    expiry = budget.get_expiry()

    async def ping(i: int) -> object:
        return await client.ping()

    async def direct(i: int) -> object:
        key = bridge.prefixed_key(budget.key_for("graphql", callers[i % CALLERS]))
        return await script([key], [time.time(), budget.amount, expiry, 1])

    async def hit(i: int) -> object:
        return await limiter.hit(budget, "graphql", callers[i % CALLERS])

    paths = {"ping": ping, "script": direct, "hit": hit}
    print(f"load average before: {load_average()}; hiredis: {HIREDIS_AVAILABLE}; tree {ROOT}")
    figures: dict[str, list[float]] = {name: [] for name in paths}
    try:
        for call in paths.values():  # warm: the connections, the script's first load
            await timed(200, call)
        for _ in range(args.repetitions):
            for name, call in paths.items():
                figures[name].append(await timed(args.calls, call))
    finally:
        keys = [bridge.prefixed_key(budget.key_for("graphql", c)) for c in callers]
        await client.delete(*keys)
        await client.aclose()
    medians = {name: statistics.median(values) for name, values in figures.items()}
    for name, values in figures.items():
        print(f"  {name:6}: {', '.join(f'{v:.1f}' for v in values)} µs; median {medians[name]:.1f}")
    print(
        f"hit: median {medians['hit']:.1f} µs CPU per call, {medians['hit'] / medians['ping']:.2f}"
        f" times a PING ({medians['ping']:.1f} µs); the script alone {medians['script']:.1f} µs"
        f" (hiredis {HIREDIS_AVAILABLE})"
    )
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    asyncio.run(main())
