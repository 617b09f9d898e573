"""The job registry's rules (pure: no services)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from app.jobs.catalogue import all_jobs
from app.jobs.registry import Job, registry
from app.runtime import Runtime


async def nothing(rt: Runtime) -> Mapping[str, Any]:
    return {}


def test_a_job_has_exactly_one_schedule_and_a_plain_name() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Job("both", "x", nothing, every_seconds=5, cron="* * * * *")
    with pytest.raises(ValueError, match="exactly one"):
        Job("neither", "x", nothing)
    with pytest.raises(ValueError, match="lowercase"):
        Job("Bad Name", "x", nothing, every_seconds=5)
    with pytest.raises(ValueError, match="positive"):
        Job("zero", "x", nothing, every_seconds=0)
    assert Job("ok-job", "x", nothing, every_seconds=30).schedule == "every 30s"
    assert Job("ok-cron", "x", nothing, cron="10 3 * * *").schedule == "10 3 * * *"


def test_two_jobs_with_one_name_are_refused() -> None:
    job = Job("twice", "x", nothing, every_seconds=1)
    with pytest.raises(ValueError, match="two jobs"):
        registry([job, job])


def test_the_catalogue_has_the_lifecycle_jobs() -> None:
    assert {"hold-timeouts", "tier-review", "expiry-sweep"} <= set(all_jobs())
