"""A member's streak, as the queries, the subscription and the make-up answer show it."""

from __future__ import annotations

import re
from datetime import date

from app.engagement import usecases
from app.errors import invalid
from app.graphql.core.context import Context
from app.graphql.engagement.types import SignInStreakNode

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def month_of(raw: str | None, today: date) -> tuple[int, int]:
    if raw is None:
        return today.year, today.month
    found = _MONTH.fullmatch(raw)
    if found is None or not 1 <= int(found.group(2)) <= 12:
        raise invalid("month must look like 2026-11", "month")
    return int(found.group(1)), int(found.group(2))


async def streak_of(ctx: Context, member_id: int) -> SignInStreakNode:
    return SignInStreakNode.of(await usecases.streak_state(ctx.runtime, member_id))
