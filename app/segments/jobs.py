"""Segmentation's scheduled work (the catalogue, app/jobs/catalogue.py, makes the job)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.runtime import Runtime
from app.segments.campaigns import run_campaign, running_campaigns
from app.segments.usecases import recompute_segments

# Daily at 03:30, the programme's time: yesterday's activity is in, the day's traffic is not.
SEGMENTS_CRON = "30 3 * * *"


async def compute_segments_job(rt: Runtime) -> Mapping[str, Any]:
    run = await recompute_segments(rt)
    return {"members": run.members, "changed": run.changed}


async def run_segment_campaigns(rt: Runtime) -> Mapping[str, Any]:
    """Credit every running campaign's pending members (resumes one cut off by a crash)."""
    finished = 0
    for campaign_id in await running_campaigns(rt):
        done = await run_campaign(rt, campaign_id)
        finished += done.status == "done"
    return {"finished": finished}
