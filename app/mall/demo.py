"""The demo catalogue (FEATURES.md §6): what the seeds describe, redeemable end to end."""

from __future__ import annotations

from decimal import Decimal

from app.mall.catalogue import ItemSpec
from app.mall.lottery import PoolKind, PoolSpec, PrizeKind, PrizeSpec
from app.mall.policy import CouponSource, Fulfilment, ItemKind, LimitPeriod

# (spec, stock): stock None is unlimited.
DEMO_ITEMS: tuple[tuple[ItemSpec, int | None], ...] = (
    (
        ItemSpec(
            code="coupon-5cny",
            name="5 CNY coupon",
            kind=ItemKind.COUPON,
            points_price=50,
            description="5 CNY off any purchase of 30 CNY or more, valid 30 days.",
            coupon_source=CouponSource.GENERATOR,
        ),
        None,
    ),
    (
        ItemSpec(
            code="goods-20cny",
            name="Tote bag (20 CNY value)",
            kind=ItemKind.GOODS,
            points_price=200,
            description="A canvas tote bag, picked up in store or shipped.",
            image_url="/static/mall/tote.png",
            fulfilment=Fulfilment.SHIPPED,
        ),
        500,
    ),
    (
        ItemSpec(
            code="free-delivery",
            name="Free delivery for a month",
            kind=ItemKind.SERVICE,
            points_price=500,
            description="Free home delivery on every order for 30 days.",
            per_member_limit=1,
            limit_period=LimitPeriod.MONTH,
        ),
        None,
    ),
    (
        ItemSpec(
            code="limited-gift",
            name="Limited-edition thermos",
            kind=ItemKind.GOODS,
            points_price=1_000,
            description="Only 100 made; one per member.",
            per_member_limit=1,
            limit_period=LimitPeriod.EVER,
            fulfilment=Fulfilment.SHIPPED,
        ),
        100,
    ),
    (
        ItemSpec(
            code="eggs-10",
            name="10 eggs for points + 1 CNY",
            kind=ItemKind.GOODS,
            points_price=100,
            cash_price=Decimal("1.00"),
            description="积分+1元换购鸡蛋: pay 100 points and 1 CNY at the till.",
            per_member_limit=1,
            limit_period=LimitPeriod.DAY,
        ),
        1_000,
    ),
    (
        ItemSpec(
            code="parking-1h",
            name="1 hour parking coupon",
            kind=ItemKind.PARKING,
            points_price=100,
            description="One hour in the mall's car park; shown at the barrier.",
            coupon_source=CouponSource.GENERATOR,
        ),
        None,
    ),
    (
        ItemSpec(
            code="coffee-voucher",
            name="Coffee voucher (partner)",
            kind=ItemKind.PARTNER_VOUCHER,
            points_price=150,
            description="One medium coffee at the partner café; code from the partner.",
            coupon_source=CouponSource.POOL,
        ),
        None,
    ),
)

DEMO_COFFEE_CODES = tuple(f"DEMO-COFFEE-{n:03d}" for n in range(1, 51))

# The pool the day-7 sign-in reward draws in (app/engagement grants tickets for it).
DEMO_WHEEL = PoolSpec(
    code="daily-wheel",
    name="Prize wheel",
    kind=PoolKind.WHEEL,
    cost_points=20,
    prizes=(
        PrizeSpec("points-100", "100 points", PrizeKind.POINTS, weight=1, points=100, stock=100),
        PrizeSpec("coupon-5cny", "5 CNY coupon", PrizeKind.COUPON, weight=4, stock=500),
        PrizeSpec("points-10", "10 points", PrizeKind.POINTS, weight=15, points=10),
        PrizeSpec("thanks", "Thanks for playing", PrizeKind.NOTHING, weight=80),
    ),
    fallback_prize_code="thanks",
)

DEMO_CHARITY = ("plant-trees", "Plant a tree (demo charity)")
