"""The points mall: catalogue items with a member's offer, redemption orders, points at checkout,
lotteries and donations, and the mall mutations' payloads.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry
from strawberry.scalars import JSON

from app.errors import ErrorCode
from app.graphql.core.fields import described_field, node_id, optional_id
from app.graphql.core.pagination import Connection
from app.graphql.ledger.types import BalanceNode
from app.graphql.mall.enums import (
    CouponSource,
    Fulfilment,
    ItemKind,
    LimitPeriod,
    OrderStatus,
    PoolKind,
)
from app.mall import lottery
from app.mall.checkout import CheckoutPayment
from app.mall.donations import Charity, Donation
from app.mall.lottery import Draw, DrawTicket, Pool
from app.mall.policy import Item, Offer, Prize, total_weight, unit_price
from app.mall.redemptions import Order, RedemptionQuote
from app.valuation.policy import plain
from app.valuation.value_policy import LotPayment


@strawberry.type(name="PriceRule", description="Cheaper near the goods' own best-before date.")
class PriceRuleNode:
    within_days: int
    percent_off: int


@strawberry.type(name="MallOffer", description="What one member would pay now, and may.")
class OfferNode:
    unit_points: int = strawberry.field(description="Points for one unit now (dynamic price).")
    cash_price: Decimal
    allowed: bool = strawberry.field(description="On sale, tier, limit and stock allow it.")
    affordable: bool = strawberry.field(description="The member has the points available.")
    refusal: ErrorCode | None = strawberry.field(description="Why it is not allowed.")
    reason: str | None

    @classmethod
    def of(cls, offer: Offer) -> OfferNode:
        return cls(
            unit_points=offer.unit_points,
            cash_price=offer.cash_price,
            allowed=offer.allowed,
            affordable=offer.affordable,
            refusal=offer.refusal,
            reason=offer.reason,
        )


@strawberry.type(name="MallItem", description="An item of the points mall.")
class MallItemNode:
    item: strawberry.Private[Item]
    now: strawberry.Private[datetime]
    offer: OfferNode | None = strawberry.field(
        default=None, description="For the member named in the query's forMemberId."
    )

    @strawberry.field
    def id(self) -> strawberry.ID:
        return node_id(self.item.id)

    @strawberry.field
    def code(self) -> str:
        return self.item.code

    @strawberry.field
    def name(self) -> str:
        return self.item.name

    @strawberry.field
    def description(self) -> str:
        return self.item.description

    @strawberry.field
    def image_url(self) -> str | None:
        return self.item.image_url

    @strawberry.field
    def kind(self) -> ItemKind:
        return self.item.kind

    @described_field("List price in points for one unit.")
    def points_price(self) -> int:
        return self.item.points_price

    @described_field("Points for one unit now, after dynamic price rules.")
    def current_points_price(self) -> int:
        return unit_price(self.item, self.now)

    @described_field("The cash part of points + cash, in CNY (0: points only).")
    def cash_price(self) -> Decimal:
        return self.item.cash_price

    @described_field("Units that can still be ordered; null when unlimited.")
    def stock_left(self) -> int | None:
        return self.item.stock_left

    @strawberry.field
    def stock_total(self) -> int | None:
        return self.item.stock_total

    @strawberry.field
    def per_member_limit(self) -> int | None:
        return self.item.per_member_limit

    @strawberry.field
    def limit_period(self) -> LimitPeriod | None:
        return self.item.limit_period

    @described_field("Tier-only: this tier code and the ones above it.")
    def min_tier(self) -> str | None:
        return self.item.min_tier

    @strawberry.field
    def sale_starts_at(self) -> datetime | None:
        return self.item.sale_starts_at

    @strawberry.field
    def sale_ends_at(self) -> datetime | None:
        return self.item.sale_ends_at

    @strawberry.field
    def price_rules(self) -> list[PriceRuleNode]:
        return [
            PriceRuleNode(within_days=r.within_days, percent_off=r.percent_off)
            for r in self.item.price_rules
        ]

    @strawberry.field
    def best_before(self) -> datetime | None:
        return self.item.best_before

    @described_field("A flash sale (秒杀): the stock decision is taken in Redis first.")
    def flash(self) -> bool:
        return self.item.flash

    @strawberry.field
    def coupon_source(self) -> CouponSource | None:
        return self.item.coupon_source

    @strawberry.field
    def fulfilment(self) -> Fulfilment:
        return self.item.fulfilment

    @strawberry.field
    def active(self) -> bool:
        return self.item.active

    @strawberry.field
    def version(self) -> int:
        return self.item.version


@strawberry.type
class MallItemConnection(Connection[MallItemNode]):
    pass


@strawberry.type
class MallItemPayload:
    item: MallItemNode


@strawberry.type
class CouponCodesAdded:
    added: int
    item: MallItemNode


@strawberry.type(name="Redemption", description="A redemption order of the points mall.")
class RedemptionNode:
    id: strawberry.ID
    member_id: strawberry.ID
    item_id: strawberry.ID
    quantity: int
    unit_points: int
    points: int
    cash_amount: Decimal
    status: OrderStatus
    hold_id: strawberry.ID | None
    commit_entry_id: strawberry.ID | None
    return_entry_id: strawberry.ID | None
    payment_ref: str | None
    paid_amount: Decimal | None
    coupon_codes: list[str]
    fulfilment_ref: str | None
    close_reason: str | None
    expires_at: datetime = strawberry.field(description="Unconfirmed orders time out then.")
    created_at: datetime
    confirmed_at: datetime | None
    fulfilled_at: datetime | None
    closed_at: datetime | None

    @classmethod
    def of(cls, o: Order) -> RedemptionNode:
        return cls(
            id=node_id(o.id),
            member_id=node_id(o.member_id),
            item_id=node_id(o.item_id),
            quantity=o.quantity,
            unit_points=o.unit_points,
            points=o.points,
            cash_amount=o.cash_amount,
            status=o.status,
            hold_id=optional_id(o.hold_id),
            commit_entry_id=optional_id(o.commit_entry_id),
            return_entry_id=optional_id(o.return_entry_id),
            payment_ref=o.payment_ref,
            paid_amount=o.paid_amount,
            coupon_codes=list(o.coupon_codes),
            fulfilment_ref=o.fulfilment_ref,
            close_reason=o.close_reason,
            expires_at=o.expires_at,
            created_at=o.created_at,
            confirmed_at=o.confirmed_at,
            fulfilled_at=o.fulfilled_at,
            closed_at=o.closed_at,
        )


@strawberry.type
class RedemptionConnection(Connection[RedemptionNode]):
    pass


@strawberry.type
class RedemptionPayload:
    redemption: RedemptionNode
    balance: BalanceNode
    replayed: bool = strawberry.field(
        default=False, description="True when this idempotency key placed it before."
    )


@strawberry.type(name="CheckoutQuote", description="How much of a basket points may pay.")
class CheckoutQuoteNode:
    max_points: int
    cash_value: Decimal = strawberry.field(description="What max_points are worth, in CNY.")
    rest_to_pay: Decimal
    points: int = strawberry.field(
        description="The points priced: the input's `points`, else max_points."
    )
    value: Decimal = strawberry.field(
        description="What `points` pay, in CNY: pass it as holdCheckoutPoints' quotedValue."
    )
    lots: list[QuotedLotNode] = strawberry.field(description="The lots that pay `points`.")


@strawberry.type(
    name="QuotedLot", description="One lot that pays, at what it is worth under the value policy."
)
class QuotedLotNode:
    lot_id: strawberry.ID
    points: int = strawberry.field(description="Points taken from the lot.")
    expires_at: datetime | None
    factor: Decimal = strawberry.field(
        description="What one of its points counts (0.5: devalued near expiry; 1.2: a premium)."
    )
    value: Decimal = strawberry.field(description="points times factor, in standard points.")

    @classmethod
    def of(cls, lot: LotPayment) -> QuotedLotNode:
        return cls(
            lot_id=node_id(lot.lot_id),
            points=lot.points,
            expires_at=lot.expires_at,
            factor=plain(lot.factor),
            value=plain(lot.value),
        )


@strawberry.type(
    name="RedemptionQuote",
    description="What an item costs the member now, lot by lot. Pass `points` as "
    "`placeRedemption`'s `quotedPoints`: the order is placed at exactly this figure or refused "
    "with QUOTE_CHANGED.",
)
class RedemptionQuoteNode:
    item_id: strawberry.ID
    quantity: int
    price: int = strawberry.field(description="The price in standard points.")
    points: int = strawberry.field(description="The points the member gives up.")
    value: Decimal = strawberry.field(description="What those points count, standard points.")
    tier: str | None
    lots: list[QuotedLotNode]
    quoted_at: datetime

    @classmethod
    def of(cls, q: RedemptionQuote) -> RedemptionQuoteNode:
        return cls(
            item_id=node_id(q.item_id),
            quantity=q.quantity,
            price=q.price,
            points=q.payment.points,
            value=plain(q.payment.value),
            tier=q.tier,
            lots=[QuotedLotNode.of(lot) for lot in q.payment.lots],
            quoted_at=q.quoted_at,
        )


@strawberry.type(name="CheckoutPayment", description="Points held toward a channel's order.")
class CheckoutPaymentNode:
    id: strawberry.ID
    member_id: strawberry.ID
    channel: str
    order_ref: str
    basket_amount: Decimal
    points: int
    cash_value: Decimal
    hold_id: strawberry.ID
    status: str = strawberry.field(description="held, committed or voided.")
    entry_id: strawberry.ID | None
    created_at: datetime
    settled_at: datetime | None

    @classmethod
    def of(cls, p: CheckoutPayment) -> CheckoutPaymentNode:
        return cls(
            id=node_id(p.id),
            member_id=node_id(p.member_id),
            channel=p.channel,
            order_ref=p.order_ref,
            basket_amount=p.basket_amount,
            points=p.points,
            cash_value=p.cash_value,
            hold_id=node_id(p.hold_id),
            status=p.status,
            entry_id=optional_id(p.entry_id),
            created_at=p.created_at,
            settled_at=p.settled_at,
        )


@strawberry.type
class CheckoutPaymentPayload:
    payment: CheckoutPaymentNode
    balance: BalanceNode
    replayed: bool = False


@strawberry.type(name="LotteryPrize")
class PrizeNode:
    code: str
    name: str
    kind: str = strawberry.field(description="points, coupon, goods or nothing.")
    weight: int
    points: int
    stock_left: int | None
    probability: str = strawberry.field(description="weight / total weight (the published odds).")

    @classmethod
    def of(cls, p: Prize, prizes: tuple[Prize, ...]) -> PrizeNode:
        return cls(
            code=p.code,
            name=p.name,
            kind=p.kind,
            weight=p.weight,
            points=p.points,
            stock_left=p.stock_left,
            probability=str(lottery.probability(p, prizes)),
        )


@strawberry.type(name="LotteryPool", description="A lottery, blind box or prize wheel.")
class PoolNode:
    code: str
    name: str
    kind: PoolKind
    cost_points: int
    fallback_prize_code: str | None = strawberry.field(
        description="Given when the drawn prize is out of stock."
    )
    active: bool
    total_weight: int
    prizes: list[PrizeNode]

    @classmethod
    def of(cls, pool: Pool) -> PoolNode:
        return cls(
            code=pool.code,
            name=pool.name,
            kind=pool.kind,
            cost_points=pool.cost_points,
            fallback_prize_code=pool.fallback_prize_code,
            active=pool.active,
            total_weight=total_weight(pool.prizes),
            prizes=[PrizeNode.of(p, pool.prizes) for p in pool.prizes],
        )


@strawberry.type(name="LotteryDraw", description="One draw, with what is needed to re-check it.")
class DrawNode:
    id: strawberry.ID
    pool_code: str
    member_id: strawberry.ID
    drawn_prize_code: str = strawberry.field(description="What the roll picked.")
    prize_code: str = strawberry.field(description="What was given (the fallback if out).")
    prize_name: str
    fell_back: bool
    roll: int = strawberry.field(description="0 ≤ roll < totalWeight, from secrets.randbelow.")
    total_weight: int
    odds: JSON = strawberry.field(description="The prizes' weights at the draw, in band order.")
    cost_points: int
    ticket_id: strawberry.ID | None
    spend_entry_id: strawberry.ID | None
    prize_entry_id: strawberry.ID | None
    coupon_code: str | None
    created_at: datetime

    @classmethod
    def of(cls, d: Draw) -> DrawNode:
        return cls(
            id=node_id(d.id),
            pool_code=d.pool_code,
            member_id=node_id(d.member_id),
            drawn_prize_code=d.drawn.code,
            prize_code=d.prize.code,
            prize_name=d.prize.name,
            fell_back=d.fell_back,
            roll=d.roll,
            total_weight=d.total_weight,
            odds=JSON(d.odds),
            cost_points=d.cost_points,
            ticket_id=optional_id(d.ticket_id),
            spend_entry_id=optional_id(d.spend_entry_id),
            prize_entry_id=optional_id(d.prize_entry_id),
            coupon_code=d.coupon_code,
            created_at=d.created_at,
        )


@strawberry.type(name="DrawTicket", description="A free draw another domain granted.")
class TicketNode:
    id: strawberry.ID
    pool_code: str
    source_ref: str
    status: str = strawberry.field(description="open or used.")
    granted_at: datetime
    used_at: datetime | None

    @classmethod
    def of(cls, t: DrawTicket) -> TicketNode:
        return cls(
            id=node_id(t.id),
            pool_code=t.pool_code,
            source_ref=t.source_ref,
            status=t.status,
            granted_at=t.granted_at,
            used_at=t.used_at,
        )


@strawberry.type
class DrawPayload:
    draw: DrawNode
    balance: BalanceNode


@strawberry.type
class LotteryPoolPayload:
    pool: PoolNode


@strawberry.type
class DrawTicketPayload:
    ticket: TicketNode
    created: bool


@strawberry.type(name="Charity")
class CharityNode:
    code: str
    name: str
    total_donated: int = strawberry.field(description="Points donated so far (running total).")
    donors: int

    @classmethod
    def of(cls, c: Charity) -> CharityNode:
        return cls(code=c.code, name=c.name, total_donated=c.total_donated, donors=c.donors)


@strawberry.type(name="Donation")
class DonationNode:
    id: strawberry.ID
    member_id: strawberry.ID
    charity_code: str
    points: int
    entry_id: strawberry.ID
    created_at: datetime

    @classmethod
    def of(cls, d: Donation) -> DonationNode:
        return cls(
            id=node_id(d.id),
            member_id=node_id(d.member_id),
            charity_code=d.charity_code,
            points=d.points,
            entry_id=node_id(d.entry_id),
            created_at=d.created_at,
        )


@strawberry.type
class DonationPayload:
    donation: DonationNode
    charity: CharityNode
    balance: BalanceNode


@strawberry.type
class CharityPayload:
    charity: CharityNode
