"""Pure mall rules: prices, who may redeem what, per-member periods, points at checkout, and the
lottery's weighted pick. No I/O: everything takes the clock's value and the rows as arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from app.errors import DomainError, ErrorCode, invalid

MAX_QUANTITY = 100  # per order: a guard against typos, not a business limit


class ItemKind(StrEnum):
    COUPON = "coupon"
    GOODS = "goods"
    SERVICE = "service"  # services and privileges (free delivery, lounge access)
    EXPERIENCE = "experience"
    PARTNER_VOUCHER = "partner_voucher"
    PARKING = "parking"


class LimitPeriod(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    EVER = "ever"


class Fulfilment(StrEnum):
    INSTANT = "instant"  # digital: fulfilled when confirmed (coupons, privileges)
    SHIPPED = "shipped"  # staff mark it fulfilled when handed over or shipped


class CouponSource(StrEnum):
    POOL = "pool"  # codes uploaded by staff (partner vouchers); stock = free codes
    GENERATOR = "generator"  # a unique code made at confirmation


class OrderStatus(StrEnum):
    PLACED = "placed"  # points held, stock reserved
    CONFIRMED = "confirmed"  # points spent (and the cash part paid)
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # not confirmed in time
    RETURNED = "returned"  # points back into their original lots


# Orders that count toward stock and per-member limits.
OPEN_OR_DONE = (OrderStatus.PLACED, OrderStatus.CONFIRMED, OrderStatus.FULFILLED)


@dataclass(frozen=True)
class PriceRule:
    """Cheaper near the goods' own best-before: ``percent_off`` within ``within_days`` of it."""

    within_days: int
    percent_off: int

    def __post_init__(self) -> None:
        if not 1 <= self.within_days <= 3650:
            raise invalid("a price rule's withinDays must be 1..3650", "priceRules")
        if not 1 <= self.percent_off <= 99:
            raise invalid("a price rule's percentOff must be 1..99", "priceRules")

    def as_json(self) -> dict[str, Any]:
        return {"within_days": self.within_days, "percent_off": self.percent_off}


@dataclass(frozen=True)
class Item:
    id: int
    code: str
    name: str
    description: str
    image_url: str | None
    kind: ItemKind
    points_price: int
    cash_price: Decimal
    stock_total: int | None
    stock_left: int | None
    per_member_limit: int | None
    limit_period: LimitPeriod | None
    min_tier: str | None
    sale_starts_at: datetime | None
    sale_ends_at: datetime | None
    price_rules: tuple[PriceRule, ...]
    best_before: datetime | None
    flash: bool
    coupon_source: CouponSource | None
    fulfilment: Fulfilment
    active: bool
    version: int
    updated_at: datetime
    updated_by: str

    @property
    def unlimited(self) -> bool:
        return self.stock_total is None


def unit_price(item: Item, now: datetime) -> int:
    """Points for one unit now: the best near-expiry discount that applies, rounded down."""
    price = item.points_price
    if item.best_before is None:
        return price
    left = item.best_before - now
    off = max(
        (r.percent_off for r in item.price_rules if left <= timedelta(days=r.within_days)),
        default=0,
    )
    return price * (100 - off) // 100


def period_start(now: datetime, period: LimitPeriod, tz: str) -> datetime | None:
    """The business-local start of the period ``now`` is in (None: since ever)."""
    local = now.astimezone(ZoneInfo(tz))
    day = local.date()
    if period is LimitPeriod.DAY:
        start = day
    elif period is LimitPeriod.WEEK:
        start = day - timedelta(days=day.weekday())
    elif period is LimitPeriod.MONTH:
        start = day.replace(day=1)
    else:
        return None
    return datetime.combine(start, time(), tzinfo=ZoneInfo(tz))


def check_quantity(quantity: int) -> None:
    if not 1 <= quantity <= MAX_QUANTITY:
        raise invalid(f"quantity must be between 1 and {MAX_QUANTITY}", "quantity")


def check_on_sale(item: Item, now: datetime) -> None:
    if not item.active:
        raise DomainError(ErrorCode.NOT_ON_SALE, f"{item.name} is not on sale", "itemId")
    if item.sale_starts_at is not None and now < item.sale_starts_at:
        raise DomainError(
            ErrorCode.NOT_ON_SALE,
            f"{item.name} goes on sale at {item.sale_starts_at.isoformat()}",
            "itemId",
        )
    if item.sale_ends_at is not None and now >= item.sale_ends_at:
        raise DomainError(
            ErrorCode.NOT_ON_SALE,
            f"the sale of {item.name} ended at {item.sale_ends_at.isoformat()}",
            "itemId",
        )


def check_tier(item: Item, member_rank: int | None, needed_rank: int | None) -> None:
    """A tier-only item is for its tier and the tiers above it."""
    if item.min_tier is None or needed_rank is None:
        return
    if member_rank is None or member_rank < needed_rank:
        raise DomainError(
            ErrorCode.TIER_TOO_LOW, f"{item.name} is for {item.min_tier} members and above"
        )


def check_limit(item: Item, already: int, quantity: int) -> None:
    limit = item.per_member_limit
    if limit is not None and already + quantity > limit:
        per = "" if item.limit_period in (None, LimitPeriod.EVER) else f" per {item.limit_period}"
        raise DomainError(
            ErrorCode.LIMIT_REACHED,
            f"{item.name}: at most {limit}{per} per member; {already} already redeemed",
            "quantity",
        )


def check_stock(item: Item, quantity: int) -> None:
    if item.stock_left is not None and item.stock_left < quantity:
        raise out_of_stock(item.name)


def out_of_stock(name: str) -> DomainError:
    return DomainError(ErrorCode.OUT_OF_STOCK, f"{name} is out of stock", "itemId")


@dataclass(frozen=True)
class Offer:
    """What one member would pay for one unit now, whether they may, and whether they can."""

    unit_points: int
    cash_price: Decimal
    allowed: bool
    affordable: bool
    refusal: ErrorCode | None = None
    reason: str | None = None


@dataclass(frozen=True)
class MemberView:
    available: int
    tier_rank: int | None
    redeemed: dict[int, int] = field(default_factory=dict)  # item id → units in its period


def offer_for(item: Item, member: MemberView, needed_rank: int | None, now: datetime) -> Offer:
    price = unit_price(item, now)
    try:
        check_on_sale(item, now)
        check_tier(item, member.tier_rank, needed_rank)
        check_limit(item, member.redeemed.get(item.id, 0), 1)
        check_stock(item, 1)
    except DomainError as refusal:
        affordable = member.available >= price
        return Offer(price, item.cash_price, False, affordable, refusal.code, refusal.message)
    return Offer(price, item.cash_price, True, member.available >= price)


def offers_for(
    items: Sequence[Item], member: MemberView, ranks: dict[str, int], now: datetime
) -> dict[int, Offer]:
    """Each item's offer to one member, by item id. ``ranks`` is every tier's rank by code: an
    item's tier that is no longer defined has no rank."""
    return {
        item.id: offer_for(
            item, member, None if item.min_tier is None else ranks.get(item.min_tier), now
        )
        for item in items
    }


# ------------------------------------------------------------------------ points at checkout


@dataclass(frozen=True)
class CheckoutPolicy:
    point_value: Decimal  # CNY per point
    max_share: Decimal  # of the basket points may pay, 0..1
    min_points: int  # below this, points are not offered
    step: int  # points are used in multiples of this (whole fen, usually)


@dataclass(frozen=True)
class CheckoutQuote:
    max_points: int
    cash_value: Decimal
    rest_to_pay: Decimal


def cny(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_DOWN)


def check_basket(amount: Decimal) -> None:
    if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise invalid("the basket amount must be positive CNY with at most 2 decimals", "amount")


def checkout_quote(
    policy: CheckoutPolicy, basket: Decimal, available: int, by_share: int | None = None
) -> CheckoutQuote:
    """The most points may pay of ``basket`` (CNY) under the programme's limits. ``by_share``:
    the most points worth the basket's share when points are not worth their face value (the
    value policy); the value is then the caller's to work out from the lots."""
    check_basket(basket)
    if by_share is None:
        by_share = int(basket * policy.max_share / policy.point_value)
    points = min(by_share, available)
    points -= points % policy.step
    if points < policy.min_points:
        points = 0
    value = cny(points * policy.point_value)
    return CheckoutQuote(points, value, basket - value)


def check_checkout_points(policy: CheckoutPolicy, quote: CheckoutQuote, points: int) -> None:
    if points < policy.min_points or points % policy.step:
        raise invalid(
            f"points must be at least {policy.min_points}, in steps of {policy.step}", "points"
        )
    if points > quote.max_points:
        raise DomainError(
            ErrorCode.LIMIT_REACHED,
            f"at most {quote.max_points} points may pay this basket",
            "points",
        )


# ---------------------------------------------------------------------------------- lottery


@dataclass(frozen=True)
class Prize:
    id: int
    code: str
    name: str
    kind: str  # points | coupon | goods | nothing
    weight: int
    points: int
    stock_left: int | None


def total_weight(prizes: Sequence[Prize]) -> int:
    return sum(p.weight for p in prizes)


def pick(prizes: Sequence[Prize], roll: int) -> Prize:
    """The prize whose weight band contains ``roll`` (0 <= roll < total weight)."""
    if not 0 <= roll < total_weight(prizes):
        raise ValueError("roll outside the pool's total weight")
    for prize in prizes:
        if roll < prize.weight:
            return prize
        roll -= prize.weight
    raise AssertionError("unreachable: the bands cover the total weight")


def award(drawn: Prize, fallback: Prize | None) -> Prize:
    """What is given: the drawn prize while it has stock, else the pool's fallback."""
    if drawn.stock_left is None or drawn.stock_left > 0:
        return drawn
    if fallback is None or (fallback.stock_left is not None and fallback.stock_left <= 0):
        raise DomainError(
            ErrorCode.OUT_OF_STOCK, "the drawn prize is out of stock and no fallback is left"
        )
    return fallback


def odds(prizes: Sequence[Prize]) -> dict[str, Decimal]:
    """Published odds: each prize's weight over the total (what a draw picks)."""
    whole = total_weight(prizes)
    return {p.code: Decimal(p.weight) / Decimal(whole) for p in prizes}
