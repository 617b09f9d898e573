"""The lifecycle's part of the demo programme: seeded once, and the first reminder run speaks."""

from __future__ import annotations

from app.jobs import usecases as jobs
from app.lifecycle.demo import DEMO_PARTNER
from app.lifecycle.exchange import list_partners
from app.lifecycle.notifications import list_notifications
from app.runtime import Runtime
from app.seed import seed_demo


async def test_the_demo_has_a_partner_and_points_about_to_expire(runtime: Runtime) -> None:
    summary = await seed_demo(runtime)
    again = await seed_demo(runtime)
    assert again == summary
    assert [p.code for p in await list_partners(runtime)] == [DEMO_PARTNER.code]

    run = await jobs.run_now(runtime, "expiry-reminders")

    assert run.result["sent"] == 1
    (note,) = await list_notifications(
        runtime, summary.member_ids[1], first=5, before_id=None, unread_only=True
    )
    assert note.payload["points"] == 100 and note.payload["threshold_days"] == 30
