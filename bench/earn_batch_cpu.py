"""earnPointsBatch against earnPoints: the CPU an earn costs each way, in-process, alternating.

    python bench/earn_batch_cpu.py                        # 5 rounds of 1,000 earns each way
    python bench/earn_batch_cpu.py --rounds 7 --earns 2000 --batch 500

The app runs in this process (``create_app`` behind ``httpx.ASGITransport``, lifespan entered,
as bench/profile_request.py). Each round posts ``--earns`` earns twice, in turn (the order
alternates between rounds, so a change of the box's load falls on both):

- **earnPoints**: one request an earn, ``--concurrency`` (32) at once, so the process's group
  commit batches them as it does under load (app/ledger/groupcommit.py);
- **earnPointsBatch**: ``--batch`` (100) earns a request, one request at a time.

Each way is measured by bench/machine_cpu.py's window: this process's CPU (the API and the
client), the bench database's PostgreSQL backends, and the wall time; printed per earn, with
the batch's ratio to the single earn of the same round, and the medians. Every earn is a new
key on one of ``--members`` members, amount 1; every answer is checked. Database and Redis from
``JIFEN_DATABASE_URL`` / ``JIFEN_REDIS_URL``, else bench/ledger.py's (recreated).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))

from bench.machine_cpu import CpuSplit, Scope, cpu_window  # noqa: E402
from bench.profile_request import _stage  # noqa: E402

EARN = (
    "mutation($m: ID!, $k: String!) { earnPoints(input: {memberId: $m, amount: 1, "
    'reason: "bench", idempotencyKey: $k}) { __typename ... on MutationError { code } } }'
)
BATCH = (
    "mutation($items: [EarnPointsInput!]!) { earnPointsBatch(input: {items: $items}) {"
    " __typename ... on MutationError { code } ... on EarnBatchPosted { posted refused } } }"
)


def per_earn(split: CpuSplit, earns: int) -> dict[str, float]:
    """Microseconds an earn: wall, this process's CPU, the backends' CPU."""
    return {
        "wall": split.wall / earns * 1e6,
        "process": (split.api or 0.0) / earns * 1e6,
        "postgres": split.postgres_backends / earns * 1e6,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--earns", type=int, default=1_000, help="earns each way, a round")
    parser.add_argument("--batch", type=int, default=100, help="earns an earnPointsBatch")
    parser.add_argument("--concurrency", type=int, default=32, help="earnPoints at once")
    parser.add_argument("--members", type=int, default=1_000)
    args = parser.parse_args()

    from app.web import create_app

    stage, settings, members, staff, _ = await _stage(args.members)
    settings = settings.model_copy(update={"earn_points_batch_max": max(500, args.batch)})
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {staff}"}
    run = f"{stage.run_id}-{os.getpid()}"
    scope = Scope(stage.database_url, stage.redis_url, [os.getpid()])
    serial = iter(range(10**9))

    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client,
    ):

        async def post(query: str, variables: dict[str, Any]) -> dict[str, Any]:
            reply = await client.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
            body: dict[str, Any] = reply.json()
            if reply.status_code != 200 or "errors" in body or '"code"' in reply.text:
                raise SystemExit(f"unexpected answer: {reply.status_code} {body}")
            return body

        def member(n: int) -> str:
            return str(members[n % len(members)])

        async def singles(count: int) -> None:
            todo = iter(range(count))

            async def lane() -> None:
                for _ in todo:
                    n = next(serial)
                    await post(EARN, {"m": member(n), "k": f"{run}-{n}"})

            await asyncio.gather(*(lane() for _ in range(args.concurrency)))

        async def batches(count: int) -> None:
            for start in range(0, count, args.batch):
                size = min(args.batch, count - start)
                numbers = [next(serial) for _ in range(size)]
                items = [
                    {
                        "memberId": member(n),
                        "amount": 1,
                        "reason": "bench",
                        "idempotencyKey": f"{run}-{n}",
                    }
                    for n in numbers
                ]
                body = await post(BATCH, {"items": items})
                assert body["data"]["earnPointsBatch"]["posted"] == size, body

        ways: dict[str, Callable[[int], Awaitable[None]]] = {
            "earnPoints": singles,
            f"earnPointsBatch ({args.batch})": batches,
        }
        for way in ways.values():  # warm: prepared statements, parsed documents, pools
            await way(min(args.earns, 2 * args.batch))

        print(
            f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n"
            f"{args.rounds} rounds of {args.earns:,} earns each way, alternating;"
            " µs an earn: wall / this process's CPU / PostgreSQL backends' CPU"
        )
        ratios: dict[str, list[float]] = {"wall": [], "process": [], "postgres": [], "sum": []}
        for round_ in range(args.rounds):
            order = list(ways.items())
            if round_ % 2:
                order.reverse()
            figures: dict[str, dict[str, float]] = {}
            for name, way in order:
                with cpu_window(scope) as window:
                    await way(args.earns)
                assert window is not None
                figures[name] = per_earn(window.split, args.earns)
            single, batch = figures["earnPoints"], figures[f"earnPointsBatch ({args.batch})"]
            for key in ("wall", "process", "postgres"):
                ratios[key].append(batch[key] / single[key] if single[key] else float("nan"))
            cpu_single = single["process"] + single["postgres"]
            ratios["sum"].append((batch["process"] + batch["postgres"]) / cpu_single)
            print(
                f"round {round_ + 1}: "
                + "; ".join(
                    f"{name} {f['wall']:.0f} / {f['process']:.0f} / {f['postgres']:.0f}"
                    for name, f in figures.items()
                )
                + f"; batch / single: wall {ratios['wall'][-1]:.2f},"
                f" process {ratios['process'][-1]:.2f}, postgres {ratios['postgres'][-1]:.2f},"
                f" process + postgres {ratios['sum'][-1]:.2f}"
            )
        print(
            "median batch / single: "
            + ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in ratios.items())
            + f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )


if __name__ == "__main__":
    asyncio.run(main())
