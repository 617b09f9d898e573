"""Scheduled jobs for staff: each job with its last run and outcome."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from app.graphql.core.context import Info
from app.graphql.core.fields import described_field
from app.jobs import usecases
from app.jobs.runner import JobRun
from app.jobs.usecases import JobStatus


@strawberry.type(name="JobRun", description="One run of a scheduled job.")
class JobRunNode:
    id: strawberry.ID
    job: str
    status: str = strawberry.field(
        description="running, succeeded, failed, or abandoned (its process stopped mid-run)."
    )
    runner: str = strawberry.field(description="host:pid of the process that ran it.")
    started_at: datetime
    finished_at: datetime | None
    result: JSON = strawberry.field(description="What the run did (counts), as the job says.")
    error: str | None

    @classmethod
    def of(cls, run: JobRun) -> JobRunNode:
        return cls(
            id=strawberry.ID(str(run.id)),
            job=run.job,
            status=run.status,
            runner=run.runner,
            started_at=run.started_at,
            finished_at=run.finished_at,
            result=cast(JSON, run.result),
            error=run.error,
        )


@strawberry.type(name="Job", description="A scheduled job and its last run.")
class JobNode:
    status: strawberry.Private[JobStatus]

    @strawberry.field
    def name(self) -> str:
        return self.status.job.name

    @strawberry.field
    def description(self) -> str:
        return self.status.job.description

    @described_field("every Ns, or a crontab in the programme's timezone.")
    def schedule(self) -> str:
        return self.status.job.schedule

    @strawberry.field
    def last_run(self) -> JobRunNode | None:
        run = self.status.last_run
        return None if run is None else JobRunNode.of(run)

    @described_field("The latest runs, newest first (at most 50).")
    async def runs(self, info: Info, first: int = 10) -> list[JobRunNode]:
        name = self.status.job.name
        runs = await usecases.job_history(info.context.runtime, name, max(1, min(first, 50)))
        return [JobRunNode.of(run) for run in runs]


@strawberry.type
class JobRunPayload:
    run: JobRunNode
