"""The job registry: what runs on a schedule, and how often.

A job is a name, a description, a schedule and an ``async def run(rt) -> dict`` returning a small
summary (stored with the run). Every job must be idempotent and safe on many replicas: the runner
lets only one process run a given job at a time (a PostgreSQL advisory lock), and each job works
row by row under the same row locks as the API, so even two runs at once cannot do a thing twice.

Adding a job (docs/LIFECYCLE.md, "Jobs"): write its function next to the domain code it drives
(``app/<domain>/jobs.py``) and declare its :class:`Job` in :func:`app.jobs.catalogue.all_jobs`
(the domains sit below the jobs package and import none of it).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.runtime import Runtime

JobFunction = Callable[[Runtime], Awaitable[Mapping[str, Any]]]

NAME = re.compile(r"^[a-z][a-z0-9-]{1,63}$")


@dataclass(frozen=True)
class Job:
    name: str  # stable: job_runs rows and the advisory lock are keyed on it
    description: str
    run: JobFunction
    every_seconds: float | None = None  # run every N seconds…
    cron: str | None = None  # …or on a crontab ("0 3 * * *"), in the programme's timezone

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise ValueError(f"job name {self.name!r}: lowercase letters, digits and dashes")
        if (self.every_seconds is None) == (self.cron is None):
            raise ValueError(f"job {self.name}: give exactly one of every_seconds and cron")
        if self.every_seconds is not None and self.every_seconds <= 0:
            raise ValueError(f"job {self.name}: every_seconds must be positive")

    @property
    def schedule(self) -> str:
        return (
            f"every {self.every_seconds:g}s" if self.every_seconds is not None else str(self.cron)
        )


def registry(jobs: list[Job]) -> dict[str, Job]:
    """Jobs by name; two jobs with one name is a programming error."""
    by_name: dict[str, Job] = {}
    for job in jobs:
        if job.name in by_name:
            raise ValueError(f"two jobs are named {job.name}")
        by_name[job.name] = job
    return by_name
