"""The job mutations; the jobs' share of the Mutation type."""

from __future__ import annotations

import strawberry

from app.graphql.jobs.mutations.run_job import run_job


@strawberry.type
class JobMutations:
    run_job = run_job
