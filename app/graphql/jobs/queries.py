"""Every scheduled job with its last run."""

from __future__ import annotations

import strawberry

from app.graphql.core.context import Info
from app.graphql.core.fields import described_field
from app.graphql.jobs.types import JobNode
from app.jobs import usecases


@strawberry.type
class JobQueries:
    @described_field("Every scheduled job with its last run and outcome (staff).")
    async def jobs(self, info: Info) -> list[JobNode]:
        info.context.require("jobs")
        return [JobNode(status=status) for status in await usecases.list_jobs(info.context.runtime)]
