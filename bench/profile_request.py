"""One request through the whole stack, in-process, profiled: where an earn's and a balance
read's CPU goes (docs/PERFORMANCE.md "What limits it").

    python bench/profile_request.py                    # 300 of each, timings + pyinstrument
    python bench/profile_request.py --requests 1000 --html /tmp/profiles

The app runs in this process (``create_app`` behind ``httpx.ASGITransport``, lifespan entered),
requests go one after another, so the time per request is this process's CPU plus the database's
round trips (PostgreSQL runs on the other core). Printed: microseconds per request for
``{ __typename }``, ``earnPoints``, ``me { balance }`` and the raw-asyncpg earn transaction (the
old ten statements and the posting function), then pyinstrument's tree of the earn and the
balance read. Database and Redis from ``JIFEN_DATABASE_URL`` / ``JIFEN_REDIS_URL``, else those
of ``bench/ledger.py`` (recreated).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))

from bench.ledger import (  # noqa: E402
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    JWT_SECRET,
    asyncpg_dsn,
    earn_function,
    earn_raw,
    mint_tokens,
    prepare_stage,
    register_members,
)

EARN = (
    "mutation($m: ID!, $a: Int!, $k: String!) { earnPoints(input: {memberId: $m, amount: $a, "
    'reason: "bench earn", idempotencyKey: $k}) { __typename ... on PointsPosted { entry { id } '
    "balance { available } } ... on MutationError { code message } } }"
)
BALANCE = "{ me { balance { available } } }"
TYPENAME = "{ __typename }"


async def timed(label: str, count: int, one: Callable[[int], Awaitable[Any]]) -> float:
    for i in range(min(50, count)):  # warm caches (prepared statements, parsed documents)
        await one(-1 - i)
    cpu, started = time.process_time(), time.perf_counter()
    for i in range(count):
        await one(i)
    wall = (time.perf_counter() - started) / count * 1e6
    cpu_us = (time.process_time() - cpu) / count * 1e6
    print(f"  {label:42} {wall:8.0f} µs wall {cpu_us:8.0f} µs CPU (this process) per request")
    return cpu_us


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--html", type=Path, default=None, help="also write HTML profiles here")
    args = parser.parse_args()

    from pyinstrument import Profiler

    from app.config import Settings
    from app.web import create_app

    stage = await asyncio.to_thread(
        prepare_stage, "profile", DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, None
    )
    members = await register_members(stage.database_url, 200, stage.run_id)
    staff, tokens = mint_tokens(members, 1)
    settings = Settings(
        database_url=stage.database_url,
        redis_url=stage.redis_url,
        jwt_secret=JWT_SECRET,
        data_dir=Path(tempfile.mkdtemp(prefix="jifen-profile-")),
        log_level="WARNING",
        jobs_enabled=False,
        rate_limit_staff="10000000/minute",
        rate_limit_member="10000000/minute",
        _env_file=None,  # type: ignore[call-arg]
    )
    app = create_app(settings)
    staff_headers = {"Authorization": f"Bearer {staff}"}
    member_headers = {"Authorization": f"Bearer {tokens[0]}"}
    run = f"{stage.run_id}-{os.getpid()}"
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench"
        ) as client,
    ):

        async def post(query: str, variables: dict[str, Any], headers: dict[str, str]) -> None:
            reply = await client.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
            body = reply.json()
            if reply.status_code != 200 or "errors" in body or "code" in str(body):
                raise SystemExit(f"unexpected answer: {reply.status_code} {body}")

        async def earn(i: int) -> None:
            variables = {"m": str(members[i % len(members)]), "a": 5, "k": f"{run}-{i}"}
            await post(EARN, variables, staff_headers)

        async def balance(i: int) -> None:
            await post(BALANCE, {}, member_headers)

        async def typename(i: int) -> None:
            await post(TYPENAME, {}, staff_headers)

        print(f"sequential, in-process, {args.requests} requests each:")
        await timed("{ __typename } through the stack", args.requests, typename)
        earn_cpu = await timed("earnPoints through the stack", args.requests, earn)
        await timed("me { balance } through the stack", args.requests, balance)

        conn = await asyncpg.connect(asyncpg_dsn(stage.database_url))
        try:

            async def raw_old(i: int) -> None:
                await earn_raw(conn, members[i % len(members)], 5, f"{run}-raw-{i}")

            async def raw_new(i: int) -> None:
                await earn_function(conn, members[i % len(members)], 5, f"{run}-fn-{i}")

            raw_cpu = await timed("earn, raw asyncpg, ten statements", args.requests, raw_old)
            fn_cpu = await timed("earn, raw asyncpg, one statement", args.requests, raw_new)
        finally:
            await conn.close()
        print(
            f"  earnPoints costs {earn_cpu / raw_cpu:.1f}x the ten-statement transaction's client "
            f"CPU and {earn_cpu / fn_cpu:.1f}x the posting function's"
        )

        for name, one in (("earn", earn), ("balance", balance)):
            profiler = Profiler(interval=0.0002, async_mode="enabled")
            profiler.start()
            for i in range(args.requests):
                await one(10**6 + i)
            profiler.stop()
            print(f"\n==== pyinstrument: {args.requests} x {name} ====")
            print(profiler.output_text(unicode=True, color=False, show_all=False))
            if args.html:
                args.html.mkdir(parents=True, exist_ok=True)
                (args.html / f"{name}.html").write_text(profiler.output_html())


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
