"""A member's last activity, for win-back: noted by every purchase, event and check-in.

A member whose last activity (purchase, event, sign-in; registration before any) is at least
``JIFEN_ENGAGEMENT_WINBACK_DORMANT_DAYS`` old gets ``JIFEN_ENGAGEMENT_WINBACK_POINTS`` when it
comes back, once per return (keyed by the business day of the return).

The note rides on the statement that reads the member's task progress (app/engagement/tracker.py):
a CTE upserts the activity and another reads the one before it (CTEs share the statement's
snapshot, so it is the activity as it was before this one). Win-back pays when the gap between
the two is the programme's dormancy or more.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert

from app.clock import business_date
from app.config import Settings
from app.engagement.rewards import Granted, Rewards
from app.engagement.tables import engagement_profiles
from app.ledger.models import Actor
from app.members.tables import members


def noting_activity(prefix: str = "") -> tuple[Any, list[Any]]:
    """A ``last_active`` column (the activity before this one: the profile's, else the
    registration) and the CTEs that note this one, bound to ``member_id`` and ``active_at``
    (each name and CTE prefixed with ``prefix`` inside a statement that has its own: the
    purchase's credit, app/engagement/tracker.py's ``ride_progress_read``)."""
    member_id = bindparam(f"{prefix}member_id", type_=BigInteger)
    before = (
        select(
            func.coalesce(
                select(engagement_profiles.c.last_active_at)
                .where(engagement_profiles.c.member_id == member_id)
                .scalar_subquery(),
                select(members.c.created_at).where(members.c.id == member_id).scalar_subquery(),
            ).label("last")
        )
    ).cte(f"{prefix}before")
    at = bindparam(f"{prefix}active_at", type_=engagement_profiles.c.last_active_at.type)
    upsert = insert(engagement_profiles).values(member_id=member_id, last_active_at=at)
    noted = upsert.on_conflict_do_update(
        index_elements=["member_id"],
        set_={
            "last_active_at": func.greatest(
                engagement_profiles.c.last_active_at, upsert.excluded.last_active_at
            )
        },
    ).cte(f"{prefix}noted")
    return select(before.c.last).scalar_subquery().label("last_active"), [before, noted]


async def pay_winback(
    rewards: Rewards,
    settings: Settings,
    member_id: int,
    at: datetime,
    last: datetime | None,
    *,
    actor: Actor,
) -> Granted | None:
    """The win-back reward when the activity at ``at`` ends a dormancy (the member's lock is
    held); ``last`` is the activity before it."""
    if last is None or at - last < timedelta(days=settings.engagement_winback_dormant_days):
        return None
    day = business_date(at, settings.timezone)
    return await rewards.points(
        member_id,
        f"winback:{day.isoformat()}",
        settings.engagement_winback_points,
        source="winback",
        reason=f"welcome back after {(at - last).days} days",
        actor=actor,
        details={"dormant_since": last.isoformat()},
    )
