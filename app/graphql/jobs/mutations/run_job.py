"""runJob: run a scheduled job now, in this process."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.jobs.inputs import RunJobInput
from app.graphql.jobs.types import JobRunNode, JobRunPayload
from app.jobs import usecases


@mutation("Run a job now, in this process (refused while another runs it).")
async def run_job(call: Call, input: RunJobInput) -> JobRunPayload:
    return JobRunPayload(run=JobRunNode.of(await usecases.run_now(call.runtime, input.name)))
