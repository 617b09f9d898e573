"""One request through the whole stack, in-process, profiled: where an earn's and a balance
read's CPU goes (docs/PERFORMANCE.md "What limits it").

    python bench/profile_request.py                    # 300 of each, timings + pyinstrument
    python bench/profile_request.py --requests 1000 --html /tmp/profiles
    python bench/profile_request.py --purchase          # recordPurchase with the demo programme

The app runs in this process (``create_app`` behind ``httpx.ASGITransport``, lifespan entered),
requests go one after another, so the time per request is this process's CPU plus the database's
round trips (PostgreSQL runs on the other core). Printed: microseconds per request for
``{ __typename }`` (a staff token, and a member's: bench/ledger.py's floor, which reads the
member's standing), ``earnPoints``, ``me { balance }`` and the raw-asyncpg earn transaction (the
old ten statements and the posting function), then pyinstrument's tree of the earn, the balance
read and the member's ``{ __typename }`` (``--cprofile``: cProfile's on the CPU clock of the earn
and the member's ``{ __typename }`` instead, to set what only the earn pays against the frame;
``--no-profile``: the timings only). Database and
Redis from ``JIFEN_DATABASE_URL`` / ``JIFEN_REDIS_URL``, else those of ``bench/ledger.py``
(recreated).

With ``--purchase`` it seeds the demo programme (as ``jifen serve`` does) and measures
``recordPurchase`` instead (bench/earning.py's 5-line basket, 10 rules), with the demo's tasks on
(the whole programme) and off (rules only), beside ``earnPoints`` of the basket's points: CPU
and statements per request (counted on the engine; BEGIN and COMMIT are not statements there),
the statements by kind, then pyinstrument's tree of the whole-programme purchase (``--cprofile``:
cProfile's on the process's CPU clock instead, waits on the database and Redis left out;
``--no-profile``: none). Each purchase
goes to a member who has not bought yet (so each completes the demo's first-purchase task);
``--members`` must exceed the requests sent. A third phase, "repeat", sends the whole
programme's purchases to 50 members in turn who bought in its warm-up (the common purchase of
``bench/earning.py``, whose buyers are drawn from a list: it moves tasks, rarely completes one).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
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


async def profiled(
    name: str, count: int, one: Callable[[int], Awaitable[Any]], html: Path | None
) -> None:
    """pyinstrument's tree of ``count`` requests, printed (and written as HTML under ``html``)."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0002, async_mode="enabled")
    profiler.start()
    for i in range(count):
        await one(10**6 + i)
    profiler.stop()
    print(f"\n==== pyinstrument: {count} x {name} ====")
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    if html:
        _write_html(html / f"{name}.html", profiler.output_html())


async def cpu_profiled(name: str, count: int, one: Callable[[int], Awaitable[Any]]) -> None:
    """cProfile on the process's CPU clock (``time.process_time``, so waits on PostgreSQL and
    Redis cost nothing) of ``count`` requests: the functions by own CPU and by CPU under them."""
    import cProfile
    import pstats

    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for i in range(count):
        await one(2 * 10**6 + i)
    profiler.disable()
    print(f"\n==== cProfile, CPU clock: {count} x {name} ====")
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(40)
    stats.sort_stats("cumulative").print_stats(80)


def _write_html(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


async def _stage(count: int) -> tuple[Any, Any, list[int], str, list[str]]:
    """The bench's database and Redis (the stage), the app's settings for them (rate limits
    lifted, no jobs), ``count`` members, a staff token and a member's."""
    from app.config import Settings

    stage = await asyncio.to_thread(
        prepare_stage, "profile", DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, None
    )
    members = await register_members(stage.database_url, count, stage.run_id)
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
    return stage, settings, members, staff, tokens


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--html", type=Path, default=None, help="also write HTML profiles here")
    parser.add_argument("--purchase", action="store_true", help="recordPurchase (see above)")
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--no-profile", action="store_true", help="the timings only")
    parser.add_argument(
        "--cprofile", action="store_true", help="cProfile on the CPU clock instead of pyinstrument"
    )
    args = parser.parse_args()
    if args.purchase:
        await purchases(args)
        return

    from app.web import create_app

    stage, settings, members, staff, tokens = await _stage(200)
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

        async def member_typename(i: int) -> None:
            await post(TYPENAME, {}, member_headers)

        print(f"sequential, in-process, {args.requests} requests each:")
        await timed("{ __typename } through the stack", args.requests, typename)
        # bench/ledger.py's floor: a member's token, so the standing is read as for the balance.
        floor_cpu = await timed("{ __typename }, a member's token", args.requests, member_typename)
        earn_cpu = await timed("earnPoints through the stack", args.requests, earn)
        balance_cpu = await timed("me { balance } through the stack", args.requests, balance)
        ratio = floor_cpu / balance_cpu
        print(f"  me {{ balance }} / {{ __typename }} (a member's) in CPU: {ratio:.2f}")

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

        if args.no_profile:
            return
        if args.cprofile:
            await cpu_profiled("earn", args.requests, earn)
            await cpu_profiled("typename", args.requests, member_typename)
            return
        for name, one in (("earn", earn), ("balance", balance), ("typename", member_typename)):
            await profiled(name, args.requests, one, args.html)


# The members who buy again (bench/earning.py's buyers mostly have: a random member of a list).
REGULARS = 50

PURCHASE = (
    "mutation($input: RecordPurchaseInput!) { recordPurchase(input: $input) { __typename"
    " ... on PurchaseRecorded { purchase { id points } balance { available } }"
    " ... on MutationError { code message } } }"
)
SET_TASK = (
    "mutation($input: SetTaskEnabledInput!) { setTaskEnabled(input: $input) {"
    " __typename ... on MutationError { code message } } }"
)


async def purchases(args: argparse.Namespace) -> None:
    """recordPurchase (whole programme, rules only) beside earnPoints, in-process."""
    from collections import Counter

    from app.cli import open_runtime
    from app.seed import seed_demo
    from app.web import create_app
    from bench.earning import BASKET
    from tests.statements import counting

    _, settings, members, staff, _ = await _stage(max(args.members, 3 * args.requests + 200))
    async with open_runtime(settings) as rt:
        await seed_demo(rt)
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {staff}"}
    run = f"purchase-{os.getpid()}-{int(time.time())}"
    fresh = iter(members)  # a member who has not bought yet, for each purchase
    orders = itertools.count()
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench"
        ) as client,
    ):
        runtime = app.state.runtime

        async def post(query: str, variables: dict[str, Any]) -> dict[str, Any]:
            reply = await client.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
            body: dict[str, Any] = reply.json()
            if reply.status_code != 200 or "errors" in body or "MutationError" in str(body):
                raise SystemExit(f"unexpected answer: {reply.status_code} {body}")
            return body["data"]

        async def purchase(i: int) -> None:
            lines = {"memberId": str(next(fresh)), "channel": "bench", "lines": BASKET}
            await post(PURCHASE, {"input": {**lines, "orderId": f"{run}-{next(orders)}"}})

        regulars = members[-REGULARS:]  # bought in the warm-up: every measured purchase repeats

        async def repeat_purchase(i: int) -> None:
            member = regulars[i % REGULARS]
            lines = {"memberId": str(member), "channel": "bench", "lines": BASKET}
            await post(PURCHASE, {"input": {**lines, "orderId": f"{run}-{next(orders)}"}})

        async def earn(i: int) -> None:
            key = f"{run}-{next(orders)}"
            variables = {"m": str(members[i % len(members)]), "a": 763, "k": key}
            await post(EARN, variables)

        async def measured(label: str, one: Callable[[int], Awaitable[Any]]) -> None:
            with counting(runtime) as statements:
                await timed(label, args.requests, one)
            per = Counter(s.split("\n", 1)[0][:90] for s in statements)
            sent = args.requests + min(50, args.requests)  # timed() warms up first
            print(f"  {len(statements) / sent:.2f} statements per request:")
            for text, n in per.most_common(20):
                print(f"    {n / sent:5.2f}  {text}")

        tasks = [t["code"] for t in (await post("{ tasks(enabled: true) { code } }", {}))["tasks"]]
        print(f"sequential, in-process, {args.requests} requests each ({len(tasks)} tasks):")
        await measured("earnPoints (763 points)", earn)
        await measured("recordPurchase, whole programme", purchase)
        await measured("recordPurchase, whole programme, repeat", repeat_purchase)
        for code in tasks:
            await post(SET_TASK, {"input": {"code": code, "enabled": False}})
        await measured("recordPurchase, rules only", purchase)
        for code in tasks:
            await post(SET_TASK, {"input": {"code": code, "enabled": True}})
        if args.no_profile:
            return
        if args.cprofile:
            await cpu_profiled("purchase", args.requests, purchase)
        else:
            await profiled("purchase", args.requests, purchase, args.html)


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
