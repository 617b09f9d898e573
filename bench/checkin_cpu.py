"""CPU per check-in on a loaded machine: requests one after another, in-process, both sides.

    python bench/checkin_cpu.py                    # 400 check-ins, 400 { __typename }
    python bench/checkin_cpu.py --requests 1000
    python bench/checkin_cpu.py --demo             # the whole demo programme: sign-in tasks
    python bench/checkin_cpu.py --demo --cprofile  # + cProfile of the check-ins, CPU clock
    python bench/checkin_cpu.py --demo --statement # + engagement_check_in() alone, no API

On a shared machine an open-loop rate (bench/checkin_open.py) measures the neighbours as much as
the code; the CPU a check-in costs does not depend on them. Here the app runs in this process
(``create_app`` behind ``httpx.ASGITransport``, lifespan entered, the demo's active schedule, no
tasks; with ``--demo`` the whole demo programme as ``jifen serve`` seeds it) and each member
checks in once, one request after another. Printed per request: this process's CPU (the API's
work and the client's few lines), this database's PostgreSQL backends' CPU (``/proc``), their
sum, and the same for ``{ __typename }`` with the members' tokens (the stack's floor). Run from
the root of the tree to measure: the app and the migrations are that tree's (a before run is
made from a checkout of the older commit). Database and Redis from ``JIFEN_DATABASE_URL`` /
``JIFEN_REDIS_URL``, else recreated ones.
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

import httpx

ROOT = Path.cwd()
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from ledger import (  # noqa: E402  (bench/ledger.py: the shared run set-up)
    JWT_SECRET,
    audit,
    backend_pids,
    cpu_seconds,
    load_average,
    prepare_stage,
)
from signin_storm import install_schedule, register_in_chunks, verify  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/jifen_checkin_cpu"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
CHECK_IN = (
    "mutation($m: ID!) { checkIn(input: {memberId: $m}) { __typename"
    " ... on CheckedIn { signIn { streak points } entry { memberId } }"
    " ... on MutationError { code message } } }"
)
TYPENAME = "{ __typename }"
WARM = 50  # requests before measuring: prepared statements, parsed documents, the caches


async def timed(
    label: str, database: str, count: int, one: Callable[[int], Awaitable[Any]]
) -> None:
    for i in range(WARM):
        await one(i)
    backends = backend_pids(database)
    ours, theirs, started = time.process_time(), cpu_seconds(backends), time.perf_counter()
    for i in range(WARM, WARM + count):
        await one(i)
    wall = (time.perf_counter() - started) / count * 1e3
    api = (time.process_time() - ours) / count * 1e3
    pg = (cpu_seconds(backend_pids(database)) - theirs) / count * 1e3
    print(
        f"  {label:28} {wall:6.2f} ms wall | CPU/req {api + pg:5.2f} ms "
        f"(this process {api:5.2f}, PostgreSQL {pg:5.2f})"
    )


async def cpu_profiled(database: str, count: int, one: Callable[[int], Awaitable[Any]]) -> None:
    """cProfile on this process's CPU clock (waits on PostgreSQL and Redis cost nothing): what
    the check-ins, and the relay's and projectors' rounds they cause, spend their CPU on."""
    import cProfile
    import pstats

    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    await timed("checkIn (cProfile)", database, count, one)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(40)
    stats.sort_stats("cumulative").print_stats(90)


async def statement_alone(rt: Any, members: list[int]) -> None:
    """``engagement_check_in()`` sent as the API sends it (its arguments built by the app, whose
    caches the check-ins above filled), one member after another on one connection: what the
    statement costs its PostgreSQL backend, without the API, the relay or the projector."""
    import asyncpg

    from app.engagement.onetrip import CHECK_IN as STATEMENT
    from app.engagement.onetrip import _call
    from app.events.relay import asyncpg_dsn
    from app.ledger.models import Actor

    conn = await asyncpg.connect(asyncpg_dsn(rt.settings.database_url))
    try:

        async def one(member: int) -> None:
            actor = Actor(f"member:{member}", kind="member")
            call = _call(rt, actor, member, one_trip=True)
            assert call is not None, "the one-trip caches are not filled"
            row = await conn.fetchrow(STATEMENT, *call.arguments)
            assert row is not None and row["out_outcome"] == "signed", row

        for member in members[:WARM]:
            await one(member)
        pid, measured = conn.get_server_pid(), members[WARM:]
        theirs, started = cpu_seconds([pid]), time.perf_counter()
        for member in measured:
            await one(member)
        wall = (time.perf_counter() - started) / len(measured) * 1e3
        pg = (cpu_seconds([pid]) - theirs) / len(measured) * 1e3
        print(f"  {'the statement alone':28} {wall:6.2f} ms wall | PostgreSQL {pg:5.2f} ms")
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--profile", action="store_true", help="pyinstrument the check-ins")
    parser.add_argument("--demo", action="store_true", help="the whole demo programme seeded")
    parser.add_argument(
        "--cprofile", action="store_true", help="cProfile the check-ins on the CPU clock"
    )
    parser.add_argument(
        "--statement",
        action="store_true",
        help="then the one statement alone for as many more members: its backend's CPU",
    )
    args = parser.parse_args()

    from app.auth.tokens import mint_token
    from app.config import Settings
    from app.web import create_app

    stage = await asyncio.to_thread(
        prepare_stage, "checkin-cpu", DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, None
    )
    database = stage.database_url.rsplit("/", 1)[1]
    await install_schedule(stage.database_url)
    count = (3 if args.statement else 2) * (WARM + args.requests)
    members = await register_in_chunks(stage.database_url, count, stage.run_id)
    settings = Settings(
        database_url=stage.database_url,
        redis_url=stage.redis_url,
        jwt_secret=JWT_SECRET,
        data_dir=Path(tempfile.mkdtemp(prefix="jifen-checkin-cpu-")),
        log_level="WARNING",
        jobs_enabled=False,
        _env_file=None,  # type: ignore[call-arg]
    )
    token_of = {m: mint_token(settings, f"member:{m}", []) for m in members}
    if args.demo:  # as `jifen serve` seeds it: the sign-in tasks, win-back, the rules
        from app.cli import open_runtime
        from app.seed import seed_demo

        async with open_runtime(settings) as rt:
            await seed_demo(rt)
    app = create_app(settings)
    print(f"load average before: {load_average()}; tree {ROOT}, pid {os.getpid()}")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client,
    ):

        async def post(query: str, member: int, variables: dict[str, Any]) -> None:
            headers = {"Authorization": f"Bearer {token_of[member]}"}
            reply = await client.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
            body = reply.json()
            if reply.status_code != 200 or "errors" in body or "code" in str(body):
                raise SystemExit(f"unexpected answer: {reply.status_code} {body}")

        half = WARM + args.requests

        async def check_in(i: int) -> None:
            await post(CHECK_IN, members[i], {"m": str(members[i])})

        async def typename(i: int) -> None:
            await post(TYPENAME, members[half + i], {})

        print(f"sequential, in-process, {args.requests} requests each (after {WARM} to warm):")
        await timed("{ __typename }", database, args.requests, typename)
        if args.cprofile:
            await cpu_profiled(database, args.requests, check_in)
        elif not args.profile:
            await timed("checkIn", database, args.requests, check_in)
        else:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0002, async_mode="enabled")
            profiler.start()
            await timed("checkIn (profiled)", database, args.requests, check_in)
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False, show_all=False))
        if args.statement:
            await statement_alone(app.state.runtime, members[2 * half :])
    print(f"load average after: {load_average()}")
    print(f"exactly one reward: {await verify(stage.database_url, members[:half])}")
    if args.statement:
        alone = await verify(stage.database_url, members[2 * half :])
        print(f"exactly one reward, the statement alone: {alone}")
    ok, report = await audit(stage.database_url)
    print("ledger audit passed" if ok else report)


if __name__ == "__main__":
    asyncio.run(main())
