"""Running jobs: recorded in job_runs, one process at a time per job, on a real schedule."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from app.clock import FrozenClock
from app.jobs import usecases
from app.jobs.registry import Job
from app.jobs.runner import jobs_running, run_job
from app.jobs.tables import job_runs
from app.ledger import usecases as ledger
from app.ledger.commands import PlaceHold
from app.runtime import Runtime
from tests.eventually import eventually
from tests.ledger.test_service import earn, new_member, programme_balance
from tests.metricsamples import growth


async def test_a_run_is_recorded_with_its_result(runtime: Runtime) -> None:
    async def count(rt: Runtime) -> Mapping[str, Any]:
        return {"counted": 3}

    run = await run_job(runtime, Job("counter", "counts", count, every_seconds=60))

    assert run is not None
    assert (run.status, run.result, run.error) == ("succeeded", {"counted": 3}, None)
    assert run.finished_at is not None


async def test_a_failing_run_is_recorded_with_its_error(runtime: Runtime) -> None:
    async def boom(rt: Runtime) -> Mapping[str, Any]:
        raise RuntimeError("the partner was unreachable")

    run = await run_job(runtime, Job("boom", "fails", boom, every_seconds=60))

    assert run is not None and run.status == "failed"
    assert "the partner was unreachable" in (run.error or "")


async def test_only_one_process_runs_a_job_at_a_time(runtime: Runtime) -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    calls = 0

    async def slow(rt: Runtime) -> Mapping[str, Any]:
        nonlocal calls
        calls += 1
        started.set()
        await release.wait()
        return {}

    job = Job("slow", "waits", slow, every_seconds=60)
    first = asyncio.create_task(run_job(runtime, job))
    await started.wait()
    # Another "replica" (another connection, same database) tries while the first runs.
    assert await run_job(runtime, job) is None
    release.set()
    assert (await first) is not None
    assert calls == 1
    assert await run_job(runtime, job) is not None  # free again once the first finished


async def test_a_run_left_running_by_a_dead_process_is_marked_abandoned(
    runtime: Runtime, clock: FrozenClock
) -> None:
    async with runtime.engine.begin() as conn:
        await conn.execute(
            job_runs.insert().values(
                job="orphan", status="running", runner="gone:1", started_at=clock.now()
            )
        )

    async def fine(rt: Runtime) -> Mapping[str, Any]:
        return {}

    await run_job(runtime, Job("orphan", "x", fine, every_seconds=60))
    async with runtime.engine.connect() as conn:
        statuses = (
            await conn.scalars(
                select(job_runs.c.status).where(job_runs.c.job == "orphan").order_by(job_runs.c.id)
            )
        ).all()
    assert statuses == ["abandoned", "succeeded"]


async def test_the_scheduler_runs_jobs_on_their_interval(runtime: Runtime) -> None:
    ran = asyncio.Event()

    async def tick(rt: Runtime) -> Mapping[str, Any]:
        ran.set()
        return {"tick": 1}

    async def a_run_succeeded() -> bool:
        async with runtime.engine.connect() as conn:
            runs = await conn.scalars(select(job_runs.c.status).where(job_runs.c.job == "tick"))
            return "succeeded" in runs.all()

    async with jobs_running(runtime, [Job("tick", "ticks", tick, every_seconds=0.2)]):
        await asyncio.wait_for(ran.wait(), timeout=10)
        # The job ran; its row is written after it returns. Leaving the block earlier would
        # cancel the run in progress (shutdown does not wait), so wait for the row here.
        await eventually(a_run_succeeded)


async def test_the_expiry_sweep_job_settles_and_reports(
    runtime: Runtime, clock: FrozenClock
) -> None:
    m = await new_member(runtime)
    await earn(runtime, m, 30, expires_at=clock.now() + timedelta(days=1))
    clock.advance(timedelta(days=2))

    run = await usecases.run_now(runtime, "expiry-sweep")

    assert run.status == "succeeded"
    assert run.result["expired"] == 30 and run.result["accounts"] == 1
    assert await programme_balance(runtime, "bank") == 30
    statuses = {s.job.name: s.last_run for s in await usecases.list_jobs(runtime)}
    last = statuses["expiry-sweep"]
    assert last is not None and last.id == run.id
    assert statuses["tier-review"] is None  # never ran


async def test_the_hold_timeout_job_voids_expired_holds(
    runtime: Runtime, clock: FrozenClock
) -> None:
    m = await new_member(runtime)
    await earn(runtime, m, 50)
    from tests.ledger.test_service import STAFF, key

    await ledger.hold_points(
        runtime, STAFF, PlaceHold(member_id=m, amount=20, reason="cart"), idempotency_key=key()
    )
    clock.advance(timedelta(hours=1))

    run = await usecases.run_now(runtime, "hold-timeouts")

    assert run.result == {"voided": 1}
    assert (await ledger.get_balance(runtime, m)).available == 50


async def test_every_registered_job_runs_on_a_quiet_programme(runtime: Runtime) -> None:
    """Each job of the catalogue (other domains add theirs) runs and records a success."""
    from app.jobs.catalogue import all_jobs
    from app.seed import seed_demo

    await seed_demo(runtime)
    for name in all_jobs():
        run = await usecases.run_now(runtime, name)
        assert (run.status, run.error) == ("succeeded", None), name
    statuses = await usecases.list_jobs(runtime)
    assert all(s.last_run is not None for s in statuses)


async def test_runs_are_measured_and_logged_at_debug_unless_they_fail(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    async def fine(rt: Runtime) -> Mapping[str, Any]:
        return {"done": 1}

    async def broken(rt: Runtime) -> Mapping[str, Any]:
        raise RuntimeError("no partner")

    succeeded = growth("jifen_job_runs_total", job="fine", status="succeeded")
    timed = growth("jifen_job_duration_seconds_count", job="fine", status="succeeded")
    failed = growth("jifen_job_runs_total", job="broken", status="failed")
    caplog.set_level(logging.INFO)

    await run_job(runtime, Job("fine", "works", fine, every_seconds=60))
    # Routine runs say nothing at INFO: a console is not a scheduler's diary.
    assert not [r for r in caplog.records if r.name == "app.jobs"]
    await run_job(runtime, Job("broken", "fails", broken, every_seconds=60))

    assert (succeeded(), timed(), failed()) == (1, 1, 1)
    assert [r.levelno for r in caplog.records if r.name == "app.jobs"] == [logging.ERROR]


async def test_stopping_mid_run_is_quiet_and_releases_the_job(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    started = asyncio.Event()

    async def long_statement(rt: Runtime) -> Mapping[str, Any]:
        async with rt.engine.connect() as conn:
            started.set()
            await conn.execute(text("SELECT pg_sleep(30)"))
        return {}

    caplog.set_level(logging.INFO)
    job = Job("long", "sleeps in the database", long_statement, every_seconds=60)
    async with jobs_running(runtime, [job]):
        await asyncio.wait_for(started.wait(), timeout=10)
        await eventually(lambda: sleeping_in_the_database(runtime))
    await eventually(
        lambda: [r for r in caplog.records if "jobs.stopped_mid_run" in r.getMessage()]
    )

    # A stop is no failure: nothing at ERROR, no traceback from the run or the scheduler.
    assert [(r.name, r.getMessage()) for r in caplog.records if r.levelno >= logging.ERROR] == []
    # The job's lock went with the run: the next run takes it, and marks this one abandoned.
    run = await run_job(runtime, Job("long", "quick now", usecases_free, every_seconds=60))
    assert run is not None and run.status == "succeeded"
    async with runtime.engine.connect() as conn:
        statuses = await conn.scalars(
            select(job_runs.c.status).where(job_runs.c.job == "long").order_by(job_runs.c.id)
        )
        assert statuses.all() == ["abandoned", "succeeded"]


async def sleeping_in_the_database(rt: Runtime) -> bool:
    async with rt.engine.connect() as conn:
        active = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                " AND query = 'SELECT pg_sleep(30)' AND datname = current_database()"
            )
        )
    return bool(active)


async def usecases_free(rt: Runtime) -> Mapping[str, Any]:
    return {}
