"""Changing the point value and reading its history."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from app.db import unit_of_work
from app.errors import invalid
from app.ledger.models import Actor
from app.runtime import Runtime
from app.valuation.policy import PointValue, plain
from app.valuation.queries import point_value_history
from app.valuation.tables import point_values

MAX_POINT_VALUE = Decimal("1000")


def _check_point_value(value: Decimal) -> Decimal:
    try:
        exact = value.quantize(Decimal("0.000001"))
    except InvalidOperation:
        raise invalid("the point value must be a number", "value") from None
    if not exact.is_finite() or exact <= 0 or exact > MAX_POINT_VALUE or exact != value:
        raise invalid(
            f"the point value is a positive amount of CNY up to {MAX_POINT_VALUE}, "
            "with at most six decimal places",
            "value",
        )
    return exact


async def set_point_value(
    rt: Runtime, actor: Actor, value: Decimal, *, effective_from: datetime | None, reason: str
) -> PointValue:
    """Record a change of the programme's point value, in force from ``effective_from`` (now
    when not given). Earlier figures keep the value in force at their time."""
    checked = _check_point_value(value)
    if not reason.strip() or len(reason) > 500:
        raise invalid("a reason of 1 to 500 characters is required", "reason")
    now = rt.clock.now()
    at = effective_from or now
    if at.tzinfo is None:
        raise invalid("effectiveFrom needs a time zone", "effectiveFrom")
    async with unit_of_work(rt.engine) as conn:
        await conn.execute(
            point_values.insert().values(
                value=checked,
                effective_from=at,
                reason=reason,
                actor=actor.principal,
                created_at=now,
            )
        )
    return PointValue(plain(checked), at)


async def point_value_changes(rt: Runtime) -> list[PointValue]:
    async with rt.read() as conn:
        return await point_value_history(conn)
