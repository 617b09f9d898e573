"""Running jobs: one process at a time per job, every run recorded in ``job_runs``.

:func:`run_job` takes a session-level advisory lock for the job on a dedicated connection
(``pg_try_advisory_lock``): if another process holds it, this run is skipped (returns None) —
the other one is doing the work. The lock goes with the connection, so a process that dies
releases it. While holding it, runs of the same job left ``running`` by a dead process are marked
``abandoned``: nobody else can be running them.

:func:`jobs_running` schedules the registered jobs with APScheduler's ``AsyncIOScheduler`` in
this process (``jifen worker``, and ``jifen serve`` unless ``JIFEN_JOBS_ENABLED=false``).
Misfires are coalesced into one run, and a job never overlaps itself within a process.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import traceback
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app import metrics
from app.jobs.registry import Job
from app.jobs.tables import job_runs
from app.logging import get_logger
from app.runtime import Runtime

log = get_logger("app.jobs")

# pg_try_advisory_lock(int, int): "JOBS" and the hash of the job's name (the relay uses "JIFE").
LOCK_SPACE = 0x4A4F4253
KEEP_RUNS_PER_JOB = 1_000
MAX_ERROR = 4_000
STOP_WAIT_SECONDS = 5.0  # for the runs that a stop cancelled to end


@dataclass(frozen=True)
class JobRun:
    id: int
    job: str
    status: str  # running | succeeded | failed | abandoned
    runner: str
    started_at: datetime
    finished_at: datetime | None
    result: dict[str, Any]
    error: str | None


def runner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


def _run(row: Any) -> JobRun:
    return JobRun(
        id=row.id,
        job=row.job,
        status=row.status,
        runner=row.runner,
        started_at=row.started_at,
        finished_at=row.finished_at,
        result=dict(row.result),
        error=row.error,
    )


async def _try_lock(conn: AsyncConnection, name: str) -> bool:
    got = await conn.scalar(
        text("SELECT pg_try_advisory_lock(:space, hashtext(:name))"),
        {"space": LOCK_SPACE, "name": name},
    )
    return bool(got)


async def _unlock(conn: AsyncConnection, name: str) -> None:
    await conn.execute(
        text("SELECT pg_advisory_unlock(:space, hashtext(:name))"),
        {"space": LOCK_SPACE, "name": name},
    )


async def _start(conn: AsyncConnection, rt: Runtime, name: str) -> int:
    now = rt.clock.now()
    await conn.execute(
        job_runs.update()
        .where(job_runs.c.job == name, job_runs.c.status == "running")
        .values(status="abandoned", finished_at=now, error="its process stopped mid-run")
    )
    run_id: int = await conn.scalar(
        job_runs.insert()
        .values(job=name, status="running", runner=runner_name(), started_at=now)
        .returning(job_runs.c.id)
    )
    return run_id


async def _finish(
    conn: AsyncConnection,
    rt: Runtime,
    run_id: int,
    name: str,
    *,
    result: Mapping[str, Any] | None = None,
    error: str | None = None,
) -> JobRun:
    row = (
        await conn.execute(
            job_runs.update()
            .where(job_runs.c.id == run_id)
            .values(
                status="failed" if error is not None else "succeeded",
                finished_at=rt.clock.now(),
                result=dict(result or {}),
                error=error,
            )
            .returning(*job_runs.c)
        )
    ).one()
    # Keep the newest runs of each job only.
    oldest_kept = (
        select(job_runs.c.id)
        .where(job_runs.c.job == name)
        .order_by(job_runs.c.id.desc())
        .offset(KEEP_RUNS_PER_JOB - 1)
        .limit(1)
        .scalar_subquery()
    )
    await conn.execute(job_runs.delete().where(job_runs.c.job == name, job_runs.c.id < oldest_kept))
    return _run(row)


async def run_job(rt: Runtime, job: Job) -> JobRun | None:
    """Run ``job`` once here, unless another process is running it (then None)."""
    async with rt.engine.connect() as raw:
        conn = await raw.execution_options(isolation_level="AUTOCOMMIT")
        if not await _try_lock(conn, job.name):
            # Routine (every tick, in every process but one): debug, as is a run that succeeds.
            log.debug("jobs.skipped_running_elsewhere", job=job.name)
            metrics.job_runs.labels(job.name, "skipped").inc()
            return None
        try:
            run_id = await _start(conn, rt, job.name)
            log.debug("jobs.started", job=job.name, run_id=run_id)
            started = time.perf_counter()
            try:
                result = await job.run(rt)
            except Exception as exc:
                log.exception("jobs.failed", job=job.name, run_id=run_id)
                _measure(job.name, "failed", started)
                error = "".join(traceback.format_exception_only(exc)).strip()[:MAX_ERROR]
                return await _finish(conn, rt, run_id, job.name, error=error)
            log.debug("jobs.succeeded", job=job.name, run_id=run_id, **dict(result))
            _measure(job.name, "succeeded", started)
            return await _finish(conn, rt, run_id, job.name, result=result)
        except asyncio.CancelledError:
            # Stopped mid-run (the process is stopping): this connection may be mid-statement,
            # so no unlock on it. Closing it releases the lock; the run's row stays ``running``
            # and the next run of the job marks it abandoned.
            await raw.invalidate()
            raise
        finally:
            if not raw.invalidated:
                await _unlock(conn, job.name)


def _measure(job: str, status: str, started: float) -> None:
    metrics.job_runs.labels(job, status).inc()
    metrics.job_duration.labels(job, status).observe(time.perf_counter() - started)


async def last_runs(conn: AsyncConnection, names: Sequence[str]) -> dict[str, JobRun]:
    """The latest run of each named job (one index probe per job)."""
    latest = (
        select(func.max(job_runs.c.id))
        .where(job_runs.c.job == func.any_(names))
        .group_by(job_runs.c.job)
    ).scalar_subquery()
    rows = await conn.execute(select(job_runs).where(job_runs.c.id.in_(latest)))
    return {row.job: _run(row) for row in rows}


async def recent_runs(conn: AsyncConnection, name: str, limit: int) -> list[JobRun]:
    rows = await conn.execute(
        select(job_runs).where(job_runs.c.job == name).order_by(job_runs.c.id.desc()).limit(limit)
    )
    return [_run(row) for row in rows]


def _trigger(job: Job, timezone: str) -> IntervalTrigger | CronTrigger:
    if job.every_seconds is not None:
        return IntervalTrigger(seconds=job.every_seconds, timezone=timezone)
    return CronTrigger.from_crontab(str(job.cron), timezone=timezone)


async def _scheduled(rt: Runtime, job: Job, runs: set[asyncio.Task[Any]]) -> None:
    run = asyncio.current_task()
    assert run is not None
    runs.add(run)
    try:
        await run_job(rt, job)
    except asyncio.CancelledError:
        # The scheduler's shutdown cancels the runs in progress: a stop, not a failure. Raised
        # on, APScheduler would log it with its traceback at ERROR; this task is the run's own.
        log.info("jobs.stopped_mid_run", job=job.name)
    except Exception:  # the database was unreachable: log, the next tick tries again
        log.exception("jobs.run_failed_to_record", job=job.name)
    finally:
        runs.discard(run)


@asynccontextmanager
async def jobs_running(rt: Runtime, jobs: Sequence[Job]) -> AsyncIterator[AsyncIOScheduler]:
    """Schedule ``jobs`` in this process for the duration of the block."""
    scheduler = AsyncIOScheduler(timezone=rt.settings.timezone)
    runs: set[asyncio.Task[Any]] = set()
    for job in jobs:
        # Interval jobs also run at start: after a downtime, the sweep catches up at once.
        first = {"next_run_time": datetime.now(UTC)} if job.every_seconds is not None else {}
        scheduler.add_job(
            _scheduled,
            _trigger(job, rt.settings.timezone),
            args=[rt, job, runs],
            id=job.name,
            name=job.name,
            coalesce=True,  # after a pause, one catch-up run (each job catches up by itself)
            max_instances=1,
            misfire_grace_time=None,  # late is better than never
            **first,
        )
    scheduler.start()
    log.info("jobs.scheduler_started", jobs=[job.name for job in jobs])
    try:
        yield scheduler
    finally:
        scheduler.shutdown(wait=False)  # cancels runs in progress; their rows become abandoned
        # Wait for the cancelled runs to let go of their connections, before the caller
        # disposes of the engine under them (PendingRollbackError, tracebacks at exit).
        if runs:
            await asyncio.wait(set(runs), timeout=STOP_WAIT_SECONDS)
        log.info("jobs.scheduler_stopped")


@asynccontextmanager
async def scheduled_jobs(rt: Runtime) -> AsyncIterator[None]:
    """Every registered job on its schedule, when ``JIFEN_JOBS_ENABLED`` (web app, worker)."""
    if not rt.settings.jobs_enabled:
        yield
        return
    from app.jobs.catalogue import all_jobs

    async with jobs_running(rt, list(all_jobs().values())):
        yield
