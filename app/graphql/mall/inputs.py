"""The mall's inputs: items as staff describe them, the catalogue filter, orders, checkout,
lotteries and donations.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from app.graphql.core.inputs import aware
from app.graphql.mall.enums import (
    CouponSource,
    Fulfilment,
    ItemKind,
    LimitPeriod,
    PoolKind,
    PrizeKind,
)
from app.mall.catalogue import ItemSpec
from app.mall.policy import PriceRule


@strawberry.input
class PriceRuleInput:
    within_days: int
    percent_off: int


@strawberry.input(description="An item as staff describe it (stock is set apart).")
class MallItemInput:
    code: str
    name: str
    kind: ItemKind
    points_price: int
    cash_price: Decimal = Decimal("0")
    description: str = ""
    image_url: str | None = None
    per_member_limit: int | None = None
    limit_period: LimitPeriod | None = None
    min_tier: str | None = None
    sale_starts_at: datetime | None = None
    sale_ends_at: datetime | None = None
    price_rules: list[PriceRuleInput] | None = None
    best_before: datetime | None = None
    flash: bool = False
    coupon_source: CouponSource | None = None
    fulfilment: Fulfilment = Fulfilment.INSTANT
    active: bool = True

    def spec(self) -> ItemSpec:
        return ItemSpec(
            code=self.code,
            name=self.name,
            kind=self.kind,
            points_price=self.points_price,
            cash_price=self.cash_price,
            description=self.description,
            image_url=self.image_url,
            per_member_limit=self.per_member_limit,
            limit_period=self.limit_period,
            min_tier=self.min_tier,
            sale_starts_at=aware(self.sale_starts_at, "saleStartsAt"),
            sale_ends_at=aware(self.sale_ends_at, "saleEndsAt"),
            price_rules=tuple(
                PriceRule(r.within_days, r.percent_off) for r in self.price_rules or ()
            ),
            best_before=aware(self.best_before, "bestBefore"),
            flash=self.flash,
            coupon_source=self.coupon_source,
            fulfilment=self.fulfilment,
            active=self.active,
        )


@strawberry.input
class CreateMallItemInput:
    item: MallItemInput
    stock: int | None = strawberry.field(
        default=None, description="Units; null for unlimited (a code pool starts at 0)."
    )


@strawberry.input
class UpdateMallItemInput:
    id: strawberry.ID
    item: MallItemInput = strawberry.field(description="The whole item; its code cannot change.")
    stock_delta: int = strawberry.field(default=0, description="Units to add (or remove).")
    expected_version: int | None = None


@strawberry.input
class AddCouponCodesInput:
    item_id: strawberry.ID
    codes: list[str]


@strawberry.input(description="Leave a filter out to match anything.")
class MallItemFilter:
    kinds: list[ItemKind] | None = None
    codes: list[str] | None = None
    on_sale_only: bool = False
    max_points: int | None = strawberry.field(default=None, description="By list price.")
    for_member_id: strawberry.ID | None = strawberry.field(
        default=None, description="Adds each item's offer for this member."
    )
    affordable_only: bool = strawberry.field(
        default=False, description="With forMemberId: list price within the available points."
    )


@strawberry.input(description="Idempotent per caller and idempotencyKey.")
class PlaceRedemptionInput:
    member_id: strawberry.ID
    item_id: strawberry.ID
    idempotency_key: str
    quantity: int = 1
    quoted_points: int | None = strawberry.field(
        default=None,
        description="The points redemptionQuote showed: placed at exactly this or refused "
        "(QUOTE_CHANGED).",
    )


@strawberry.input
class RedemptionQuoteInput:
    member_id: strawberry.ID
    item_id: strawberry.ID
    quantity: int = 1


@strawberry.input
class RedemptionIdInput:
    order_id: strawberry.ID


@strawberry.input(description="The channel reports the cash part paid; the order confirms.")
class PayRedemptionInput:
    order_id: strawberry.ID
    payment_ref: str = strawberry.field(description="The channel's payment id; pays one order.")
    amount: Decimal


@strawberry.input
class FulfilRedemptionInput:
    order_id: strawberry.ID
    reference: str | None = strawberry.field(default=None, description="e.g. a tracking number.")


@strawberry.input
class CloseRedemptionInput:
    order_id: strawberry.ID
    reason: str


@strawberry.input
class CheckoutQuoteInput:
    member_id: strawberry.ID
    channel: str
    amount: Decimal = strawberry.field(description="The basket in CNY.")
    points: int | None = strawberry.field(
        default=None, description="Price this many points (default: the most allowed)."
    )


@strawberry.input(description="Idempotent on (channel, orderRef).")
class HoldCheckoutPointsInput:
    member_id: strawberry.ID
    channel: str
    order_ref: str
    amount: Decimal = strawberry.field(description="The basket in CNY.")
    points: int
    quoted_value: Decimal | None = strawberry.field(
        default=None,
        description="The CNY checkoutQuote showed for these points: held at exactly this or "
        "refused (QUOTE_CHANGED).",
    )


@strawberry.input
class CheckoutPaymentIdInput:
    payment_id: strawberry.ID


@strawberry.input
class PrizeInput:
    code: str
    name: str
    kind: PrizeKind
    weight: int
    points: int = 0
    stock: int | None = None


@strawberry.input
class CreateLotteryPoolInput:
    code: str
    name: str
    kind: PoolKind
    cost_points: int
    prizes: list[PrizeInput]
    fallback_prize_code: str | None = None


@strawberry.input(description="Idempotent per caller and idempotencyKey.")
class DrawLotteryInput:
    member_id: strawberry.ID
    pool_code: str
    idempotency_key: str
    use_ticket: bool = strawberry.field(default=False, description="Pay with a free-draw ticket.")


@strawberry.input(description="Idempotent on sourceRef.")
class GrantDrawTicketInput:
    member_id: strawberry.ID
    pool_code: str
    source_ref: str


@strawberry.input(description="Idempotent per caller and idempotencyKey.")
class DonatePointsInput:
    member_id: strawberry.ID
    charity_code: str
    points: int
    idempotency_key: str


@strawberry.input
class CreateCharityInput:
    code: str
    name: str
