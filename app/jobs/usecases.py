"""Job use cases for the API and the CLI: list the jobs with their last run, run one now."""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import DomainError, ErrorCode, not_found
from app.jobs.catalogue import all_jobs
from app.jobs.registry import Job
from app.jobs.runner import JobRun, last_runs, recent_runs, run_job
from app.runtime import Runtime


@dataclass(frozen=True)
class JobStatus:
    job: Job
    last_run: JobRun | None


def _job(name: str) -> Job:
    job = all_jobs().get(name)
    if job is None:
        raise not_found("job", name, "name")
    return job


async def list_jobs(rt: Runtime) -> list[JobStatus]:
    jobs = all_jobs()
    async with rt.engine.connect() as conn:
        last = await last_runs(conn, list(jobs))
    return [JobStatus(job, last.get(name)) for name, job in sorted(jobs.items())]


async def job_history(rt: Runtime, name: str, limit: int) -> list[JobRun]:
    _job(name)
    async with rt.engine.connect() as conn:
        return await recent_runs(conn, name, limit)


async def run_now(rt: Runtime, name: str) -> JobRun:
    """Run a job at once in this process (staff, CLI); refused while another process runs it."""
    run = await run_job(rt, _job(name))
    if run is None:
        raise DomainError(
            ErrorCode.JOB_RUNNING, f"job {name} is running in another process", "name"
        )
    return run
