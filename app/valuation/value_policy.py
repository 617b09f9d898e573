"""The point's value policy (docs/ANALYTICS.md, "Point value"): what a point of a given lot is
worth when a member redeems it. Pure rules, no I/O.

Two optional levers from the programme's economics:

- **time-limited devaluation** (积分限时贬值): a point whose lot expires within ``expiring_days``
  counts ``expiring_fraction`` of a point (0.5: "worth half in the last month");
- **a tier premium** (高活跃用户积分价值提升): every point of a member of a listed tier counts
  that multiple (1.2: a gold member's 100 points buy what 120 buy for others).

A price is in *standard points* (the mall's ``points_price``, or checkout's CNY divided by the
point value). Paying walks the member's spendable lots in the ledger's spending order (first to
expire first) — the very lots the ledger's hold or spend takes next — so the quote shown and the
points taken are the same lots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation

ONE = Decimal(1)
MAX_PREMIUM = Decimal(10)


class ValuePolicyError(ValueError):
    """A policy setting that is not a policy (the start refuses it, named)."""


class NotEnoughValue(ValueError):
    """The member's spendable lots are worth less than the price."""

    def __init__(self, price: int, worth: Decimal) -> None:
        super().__init__(f"a price of {price} points, the points are worth {worth}")
        self.price = price
        self.worth = worth


def _decimal(text: Decimal | str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValuePolicyError(f"{what} must be a number, not {text!r}") from None
    if not value.is_finite():
        raise ValuePolicyError(f"{what} must be finite")
    return value


@dataclass(frozen=True)
class ValuePolicy:
    expiring_days: int | None = None  # None: no time-limited devaluation
    expiring_fraction: Decimal = ONE
    tier_premiums: Mapping[str, Decimal] = field(default_factory=dict)

    @classmethod
    def parse(
        cls,
        expiring_days: int | None,
        expiring_fraction: Decimal | str,
        tier_premiums: Mapping[str, Decimal | str],
    ) -> ValuePolicy:
        """The policy from its settings, checked: a fraction in (0, 1], premiums in [1, 10]."""
        fraction = _decimal(expiring_fraction, "the expiring fraction")
        if not ONE >= fraction > 0:
            raise ValuePolicyError("the expiring fraction must be more than 0 and at most 1")
        if expiring_days is not None and expiring_days < 1:
            raise ValuePolicyError("the expiring days must be at least 1")
        premiums = {t: _decimal(p, f"tier {t}'s premium") for t, p in tier_premiums.items()}
        if any(not MAX_PREMIUM >= p >= ONE for p in premiums.values()):
            raise ValuePolicyError(f"a tier premium must be from 1 to {MAX_PREMIUM}")
        return cls(expiring_days, fraction, premiums)

    @property
    def active(self) -> bool:
        devalues = self.expiring_days is not None and self.expiring_fraction != ONE
        return devalues or any(p != ONE for p in self.tier_premiums.values())


@dataclass(frozen=True)
class SpendableLot:
    """A lot with points the member could spend now, in the ledger's spending order."""

    lot_id: int
    remaining: int
    expires_at: datetime | None


@dataclass(frozen=True)
class LotPayment:
    lot_id: int
    points: int  # taken from the lot
    expires_at: datetime | None
    factor: Decimal  # what one of its points counts, in standard points
    value: Decimal  # points times factor


@dataclass(frozen=True)
class Payment:
    lots: tuple[LotPayment, ...]
    points: int  # points the member gives up
    value: Decimal  # what they count, in standard points


def devalued(policy: ValuePolicy, expires_at: datetime | None, now: datetime) -> bool:
    """Whether a lot expiring at ``expires_at`` is inside the devaluation window at ``now``:
    from exactly ``expiring_days`` days before its expiry (inclusive) until it expires."""
    if policy.expiring_days is None or expires_at is None:
        return False
    return expires_at - now <= timedelta(days=policy.expiring_days)


def lot_factor(
    policy: ValuePolicy, expires_at: datetime | None, now: datetime, tier: str | None
) -> Decimal:
    """What one point of the lot counts, in standard points, for a member of ``tier``."""
    premium = policy.tier_premiums.get(tier, ONE) if tier is not None else ONE
    return premium * (policy.expiring_fraction if devalued(policy, expires_at, now) else ONE)


def pay_price(
    policy: ValuePolicy,
    lots: Sequence[SpendableLot],
    price: int,
    now: datetime,
    tier: str | None,
) -> Payment:
    """The points that pay ``price`` standard points: lot by lot in spending order, from each
    the fewest whole points whose value covers what is left (rounded up: the programme never
    sells below its price). Raises :class:`NotEnoughValue` when the lots are worth less."""
    paid: list[LotPayment] = []
    owed = Decimal(price)
    for lot in lots:
        if owed <= 0:
            break
        factor = lot_factor(policy, lot.expires_at, now, tier)
        needed = int((owed / factor).to_integral_value(rounding=ROUND_CEILING))
        points = min(needed, lot.remaining)
        if points > 0:
            paid.append(LotPayment(lot.lot_id, points, lot.expires_at, factor, points * factor))
            owed -= points * factor
    if owed > 0:
        raise NotEnoughValue(price, Decimal(price) - owed)
    return _payment(paid)


def pay_points(
    policy: ValuePolicy,
    lots: Sequence[SpendableLot],
    points: int,
    now: datetime,
    tier: str | None,
) -> Payment:
    """What giving up ``points`` (first to expire first) is worth; as far as the lots go."""
    paid: list[LotPayment] = []
    left = points
    for lot in lots:
        if left <= 0:
            break
        taken = min(left, lot.remaining)
        factor = lot_factor(policy, lot.expires_at, now, tier)
        paid.append(LotPayment(lot.lot_id, taken, lot.expires_at, factor, taken * factor))
        left -= taken
    return _payment(paid)


def most_points_within(
    policy: ValuePolicy,
    lots: Sequence[SpendableLot],
    cap: Decimal,
    now: datetime,
    tier: str | None,
) -> int:
    """The most points (first to expire first) whose value stays at or under ``cap`` standard
    points (checkout: the share of a basket points may pay)."""
    points = 0
    room = cap
    for lot in lots:
        factor = lot_factor(policy, lot.expires_at, now, tier)
        fits = int((room / factor).to_integral_value(rounding=ROUND_FLOOR))
        taken = min(fits, lot.remaining)
        points += taken
        room -= taken * factor
        if taken < lot.remaining:
            break
    return points


def _payment(paid: list[LotPayment]) -> Payment:
    return Payment(
        tuple(paid),
        sum(p.points for p in paid),
        sum((p.value for p in paid), Decimal(0)),
    )
