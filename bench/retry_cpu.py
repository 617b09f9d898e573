"""CPU of ``retry_on_lost_connection`` (app/db.py) around a use case that does nothing.

    python bench/retry_cpu.py                    # 7 repetitions of 20,000 calls

The wrapper runs once per earn (and per other retried use case); what it costs is what every such
request pays when nothing is lost. Printed: µs of this process's CPU per call, each repetition
and their median. The baseline is the same command run from a checkout of the older commit
(the tree's ``app`` is the one imported), alternating.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path.cwd()
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from ledger import load_average  # noqa: E402


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()

    from app.db import retry_on_lost_connection

    async def nothing(value: int) -> int:
        return value

    wrapped = retry_on_lost_connection(nothing)
    print(f"load average before: {load_average()}; tree {ROOT}")
    runs: list[float] = []
    for _ in range(7):
        cpu = time.process_time()
        for i in range(args.calls):
            await wrapped(i)
        runs.append((time.process_time() - cpu) / args.calls * 1e6)
    print(f"  per call: {', '.join(f'{r:.2f}' for r in runs)} µs")
    print(f"retry_on_lost_connection: median {statistics.median(runs):.2f} µs CPU per call")


if __name__ == "__main__":
    asyncio.run(main())
