"""What a member's points are worth when they redeem, under the point's value policy
(app/valuation/value_policy.py; docs/ANALYTICS.md, "Point value"): the quote shown before a
redemption, and the same figure worked out again under the account lock when it is applied.

A redemption that carries the quote's figure (``quotedPoints`` in the mall, ``quotedValue`` at
checkout) is applied only if the figure worked out under the lock is the same; otherwise it is
refused with ``QUOTE_CHANGED`` and nothing is written — the member is never charged a figure it
was not shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from app.errors import DomainError, ErrorCode
from app.ledger.queries import spendable_lots
from app.runtime import Runtime
from app.tiers.policy import TierPolicy
from app.tiers.service import TierService
from app.valuation.value_policy import (
    NotEnoughValue,
    Payment,
    SpendableLot,
    ValuePolicy,
    most_points_within,
    pay_points,
    pay_price,
)


def value_policy(rt: Runtime) -> ValuePolicy:
    s = rt.settings
    return ValuePolicy.parse(
        s.value_expiring_days, s.value_expiring_fraction, s.value_tier_premiums
    )


@dataclass(frozen=True)
class Pricing:
    """The policy with what it needs of one member at one moment: its lots and tier."""

    policy: ValuePolicy
    lots: tuple[SpendableLot, ...]
    tier: str | None
    now: datetime

    def paying(self, price: int) -> Payment:
        """The points that pay ``price`` standard points, or INSUFFICIENT_POINTS."""
        try:
            return pay_price(self.policy, self.lots, price, self.now, self.tier)
        except NotEnoughValue as short:
            raise DomainError(
                ErrorCode.INSUFFICIENT_POINTS,
                f"a price of {price} points; the member's points are worth {short.worth}",
                "quantity",
            ) from None

    def worth(self, points: int) -> Payment:
        """What ``points`` (first to expire first) are worth."""
        return pay_points(self.policy, self.lots, points, self.now, self.tier)

    def most_within(self, cap: Decimal) -> int:
        """The most points worth at most ``cap`` standard points."""
        return most_points_within(self.policy, self.lots, cap, self.now, self.tier)


async def member_pricing(conn: AsyncConnection, rt: Runtime, member_id: int) -> Pricing:
    """The member's spendable lots (spending order) and tier now. Under the member's account
    lock these are exactly the lots the next hold or spend takes."""
    now = rt.clock.now()
    policy = value_policy(rt)
    lots = tuple(SpendableLot(*lot) for lot in await spendable_lots(conn, member_id, now))
    tier = None
    if policy.tier_premiums:  # the tier is read only when it can change a price
        service = TierService(conn, rt.clock, TierPolicy.from_settings(rt.settings))
        found = await service.tier_of(member_id, await service.definitions())
        tier = None if found is None else found.code
    return Pricing(policy, lots, tier, now)


def check_quoted(quoted: object | None, actual: object, field: str) -> None:
    """Refuse (QUOTE_CHANGED) a redemption whose quoted figure is not the one now."""
    if quoted is not None and quoted != actual:
        raise DomainError(
            ErrorCode.QUOTE_CHANGED,
            f"the price changed since the quote: {actual} now, {quoted} quoted",
            field,
        )
