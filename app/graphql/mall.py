"""The points mall: catalogue (staff), redemptions, points at checkout, lotteries, donations.

Resolvers check permissions, translate GraphQL values and call the use cases of
:mod:`app.mall`; a refused request is a ``MutationError`` and changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from app.auth.permissions import Subject
from app.auth.principal import PrincipalKind
from app.errors import ErrorCode, invalid
from app.graphql.context import Context, Info
from app.graphql.errors import MutationError, refusal_as_payload
from app.graphql.fields import described_field, described_mutation
from app.graphql.ledger import BalanceNode, balance_after_write
from app.graphql.pagination import PageInfo, decode_cursor, encode_cursor, page_size, parse_id
from app.mall import catalogue, checkout, donations, lottery
from app.mall import usecases as redemptions
from app.mall.catalogue import BrowseFilter, ItemSpec
from app.mall.checkout import CheckoutPayment
from app.mall.donations import Charity, Donation
from app.mall.lottery import Draw, DrawTicket, Pool, PoolKind, PoolSpec, PrizeKind, PrizeSpec
from app.mall.policy import (
    CouponSource,
    Fulfilment,
    Item,
    ItemKind,
    LimitPeriod,
    MemberView,
    Offer,
    OrderStatus,
    PriceRule,
    Prize,
    offer_for,
    total_weight,
    unit_price,
)
from app.mall.redemptions import Order

strawberry.enum(ItemKind, name="MallItemKind")
strawberry.enum(LimitPeriod, name="LimitPeriod")
strawberry.enum(Fulfilment, name="Fulfilment")
strawberry.enum(CouponSource, name="CouponSource")
strawberry.enum(OrderStatus, name="RedemptionStatus")
strawberry.enum(PoolKind, name="LotteryPoolKind")
strawberry.enum(PrizeKind, name="PrizeKind")


def _id(value: int | None) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(str(value))


def _sid(value: int) -> strawberry.ID:
    return strawberry.ID(str(value))


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise invalid("give a time zone offset (e.g. 2026-11-23T10:00:00+08:00)", field)
    return value


# ----------------------------------------------------------------------------------- catalogue


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
        return _sid(self.item.id)

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
class MallItemEdge:
    cursor: str
    node: MallItemNode


@strawberry.type
class MallItemConnection:
    edges: list[MallItemEdge]
    page_info: PageInfo


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
            sale_starts_at=_aware(self.sale_starts_at, "saleStartsAt"),
            sale_ends_at=_aware(self.sale_ends_at, "saleEndsAt"),
            price_rules=tuple(
                PriceRule(r.within_days, r.percent_off) for r in self.price_rules or ()
            ),
            best_before=_aware(self.best_before, "bestBefore"),
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


@strawberry.type
class MallItemPayload:
    item: MallItemNode


@strawberry.type
class CouponCodesAdded:
    added: int
    item: MallItemNode


MallItemResult = Annotated[MallItemPayload | MutationError, strawberry.union("MallItemResult")]
AddCouponCodesResult = Annotated[
    CouponCodesAdded | MutationError, strawberry.union("AddCouponCodesResult")
]


# ---------------------------------------------------------------------------------- redemptions


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
            id=_sid(o.id),
            member_id=_sid(o.member_id),
            item_id=_sid(o.item_id),
            quantity=o.quantity,
            unit_points=o.unit_points,
            points=o.points,
            cash_amount=o.cash_amount,
            status=o.status,
            hold_id=_id(o.hold_id),
            commit_entry_id=_id(o.commit_entry_id),
            return_entry_id=_id(o.return_entry_id),
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
class RedemptionEdge:
    cursor: str
    node: RedemptionNode


@strawberry.type
class RedemptionConnection:
    edges: list[RedemptionEdge]
    page_info: PageInfo


@strawberry.type
class RedemptionPayload:
    redemption: RedemptionNode
    balance: BalanceNode
    replayed: bool = strawberry.field(
        default=False, description="True when this idempotency key placed it before."
    )


RedemptionResult = Annotated[
    RedemptionPayload | MutationError, strawberry.union("RedemptionResult")
]


@strawberry.input(description="Idempotent per caller and idempotencyKey.")
class PlaceRedemptionInput:
    member_id: strawberry.ID
    item_id: strawberry.ID
    idempotency_key: str
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


# ------------------------------------------------------------------------------------ checkout


@strawberry.type(name="CheckoutQuote", description="How much of a basket points may pay.")
class CheckoutQuoteNode:
    max_points: int
    cash_value: Decimal = strawberry.field(description="What max_points are worth, in CNY.")
    rest_to_pay: Decimal


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
            id=_sid(p.id),
            member_id=_sid(p.member_id),
            channel=p.channel,
            order_ref=p.order_ref,
            basket_amount=p.basket_amount,
            points=p.points,
            cash_value=p.cash_value,
            hold_id=_sid(p.hold_id),
            status=p.status,
            entry_id=_id(p.entry_id),
            created_at=p.created_at,
            settled_at=p.settled_at,
        )


@strawberry.type
class CheckoutPaymentPayload:
    payment: CheckoutPaymentNode
    balance: BalanceNode
    replayed: bool = False


CheckoutPaymentResult = Annotated[
    CheckoutPaymentPayload | MutationError, strawberry.union("CheckoutPaymentResult")
]


@strawberry.input
class CheckoutQuoteInput:
    member_id: strawberry.ID
    channel: str
    amount: Decimal = strawberry.field(description="The basket in CNY.")


@strawberry.input(description="Idempotent on (channel, orderRef).")
class HoldCheckoutPointsInput:
    member_id: strawberry.ID
    channel: str
    order_ref: str
    amount: Decimal = strawberry.field(description="The basket in CNY.")
    points: int


@strawberry.input
class CheckoutPaymentIdInput:
    payment_id: strawberry.ID


# ------------------------------------------------------------------------------------- lottery


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
            id=_sid(d.id),
            pool_code=d.pool_code,
            member_id=_sid(d.member_id),
            drawn_prize_code=d.drawn.code,
            prize_code=d.prize.code,
            prize_name=d.prize.name,
            fell_back=d.fell_back,
            roll=d.roll,
            total_weight=d.total_weight,
            odds=JSON(d.odds),
            cost_points=d.cost_points,
            ticket_id=_id(d.ticket_id),
            spend_entry_id=_id(d.spend_entry_id),
            prize_entry_id=_id(d.prize_entry_id),
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
            id=_sid(t.id),
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


DrawResult = Annotated[DrawPayload | MutationError, strawberry.union("DrawLotteryResult")]
LotteryPoolResult = Annotated[
    LotteryPoolPayload | MutationError, strawberry.union("LotteryPoolResult")
]
DrawTicketResult = Annotated[
    DrawTicketPayload | MutationError, strawberry.union("GrantDrawTicketResult")
]


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


# ----------------------------------------------------------------------------------- donations


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
            id=_sid(d.id),
            member_id=_sid(d.member_id),
            charity_code=d.charity_code,
            points=d.points,
            entry_id=_sid(d.entry_id),
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


DonationResult = Annotated[DonationPayload | MutationError, strawberry.union("DonationResult")]
CharityResult = Annotated[CharityPayload | MutationError, strawberry.union("CharityResult")]


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


# -------------------------------------------------------------------------------- permissions


async def _require_on_order(ctx: Context, operation: str, order_id: int) -> None:
    """A member acts only on its own orders; a partner on members of its channel."""

    async def owner() -> Subject:
        order = await redemptions.get_order(ctx.runtime, order_id)
        return await ctx.member_subject(order.member_id)

    await ctx.require_on_target(operation, order_id, "orderId", owner)


async def _require_on_payment(ctx: Context, operation: str, payment_id: int) -> None:
    async def owner() -> Subject:
        payment = await checkout.get_payment(ctx.runtime, payment_id)
        return Subject(payment.member_id, frozenset({payment.channel}))

    await ctx.require_on_target(operation, payment_id, "paymentId", owner)


async def _member_view(ctx: Context, member_id: int, items: list[Item]) -> MemberView:
    from app.mall.catalogue import Catalogue, tier_ranks

    rt = ctx.runtime
    balance = await ctx.loaders.balance.load(member_id)
    async with rt.engine.connect() as conn:
        rank, _ = await tier_ranks(conn, rt.clock, rt, member_id)
        redeemed = await Catalogue(conn, rt.clock).redeemed(member_id, items, rt.settings.timezone)
    return MemberView(balance.available, rank, redeemed)


async def _tier_ranks(ctx: Context) -> dict[str, int]:
    from app.tiers.usecases import list_tiers

    return {d.code: d.rank for d in await list_tiers(ctx.runtime)}


# ------------------------------------------------------------------------------------ queries


@strawberry.type
class MallQueries:
    @described_field("Browse the catalogue; with forMemberId, what that member may redeem.")
    async def mall_items(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: MallItemFilter | None = None,
    ) -> MallItemConnection:
        ctx = info.context
        ctx.require("mallItems")
        where = filter or MallItemFilter()
        size = page_size(first, ctx.runtime.settings.page_size_cap)
        member_id = (
            None if where.for_member_id is None else parse_id(where.for_member_id, "forMemberId")
        )
        max_points = where.max_points
        if member_id is not None:
            await ctx.readable_member("mallItems", member_id)
            if where.affordable_only:
                available = (await ctx.loaders.balance.load(member_id)).available
                max_points = available if max_points is None else min(max_points, available)
        items = await catalogue.browse(
            ctx.runtime,
            BrowseFilter(
                kinds=tuple(where.kinds or ()),
                on_sale_only=where.on_sale_only,
                max_points=max_points,
                codes=tuple(where.codes or ()),
            ),
            after_id=decode_cursor("item", after),
            first=size + 1,
        )
        now = ctx.runtime.clock.now()
        shown = items[:size]
        offers: dict[int, OfferNode] = {}
        if member_id is not None and shown:
            view = await _member_view(ctx, member_id, shown)
            ranks = await _tier_ranks(ctx)
            for item in shown:
                needed = None if item.min_tier is None else ranks.get(item.min_tier)
                offers[item.id] = OfferNode.of(offer_for(item, view, needed, now))
        edges = [
            MallItemEdge(
                cursor=encode_cursor("item", item.id),
                node=MallItemNode(item=item, now=now, offer=offers.get(item.id)),
            )
            for item in shown
        ]
        return MallItemConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(items) > size, end_cursor=edges[-1].cursor if edges else None
            ),
        )

    @described_field("A member's redemption orders, newest first.")
    async def redemptions(
        self,
        info: Info,
        member_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
        status: OrderStatus | None = None,
    ) -> RedemptionConnection:
        ctx = info.context
        ctx.require("redemptions")
        member = parse_id(member_id, "memberId")
        await ctx.readable_member("redemptions", member)
        size = page_size(first, ctx.runtime.settings.page_size_cap)
        orders = await redemptions.list_orders(
            ctx.runtime,
            member,
            first=size + 1,
            before_id=decode_cursor("redemption", after),
            status=status,
        )
        edges = [
            RedemptionEdge(cursor=encode_cursor("redemption", o.id), node=RedemptionNode.of(o))
            for o in orders[:size]
        ]
        return RedemptionConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(orders) > size, end_cursor=edges[-1].cursor if edges else None
            ),
        )

    @described_field("A lottery pool with its published odds (null for an unknown code).")
    async def lottery_pool(self, info: Info, code: str) -> PoolNode | None:
        ctx = info.context
        ctx.require("lotteryPool")
        pools = [p for p in await lottery.list_pools(ctx.runtime) if p.code == code]
        return PoolNode.of(pools[0]) if pools else None

    @described_field("A member's draws (newest first) and free-draw tickets: the audit trail.")
    async def lottery_draws(
        self, info: Info, member_id: strawberry.ID, first: int | None = None
    ) -> list[DrawNode]:
        ctx = info.context
        ctx.require("lotteryDraws")
        member = parse_id(member_id, "memberId")
        await ctx.readable_member("lotteryDraws", member)
        size = page_size(first, ctx.runtime.settings.page_size_cap)
        return [DrawNode.of(d) for d in await lottery.list_draws(ctx.runtime, member, first=size)]

    @described_field("A member's free-draw tickets, newest first.")
    async def draw_tickets(
        self, info: Info, member_id: strawberry.ID, open_only: bool = True
    ) -> list[TicketNode]:
        ctx = info.context
        ctx.require("drawTickets")
        member = parse_id(member_id, "memberId")
        await ctx.readable_member("drawTickets", member)
        tickets = await lottery.list_tickets(ctx.runtime, member, open_only=open_only)
        return [TicketNode.of(t) for t in tickets]

    @described_field("Charities with their running totals.")
    async def charities(self, info: Info) -> list[CharityNode]:
        info.context.require("charities")
        return [CharityNode.of(c) for c in await donations.list_charities(info.context.runtime)]

    @described_field("How much of a basket the member's points may pay (抵现).")
    async def checkout_quote(self, info: Info, input: CheckoutQuoteInput) -> CheckoutQuoteNode:
        ctx = info.context
        ctx.require("checkoutQuote")
        member = parse_id(input.member_id, "memberId")
        if ctx.principal.kind is PrincipalKind.PARTNER:
            ctx.require_on_channel("checkoutQuote", input.channel, member)
        await ctx.readable_member("checkoutQuote", member)
        q = await checkout.quote(ctx.runtime, member, input.amount)
        return CheckoutQuoteNode(
            max_points=q.max_points, cash_value=q.cash_value, rest_to_pay=q.rest_to_pay
        )


# ---------------------------------------------------------------------------------- mutations


@strawberry.type
class MallMutations:
    @described_mutation("Add an item to the catalogue (staff).")
    async def create_mall_item(self, info: Info, input: CreateMallItemInput) -> MallItemResult:
        ctx = info.context

        async def run() -> MallItemPayload:
            ctx.require("createMallItem")
            item = await catalogue.create_item(
                ctx.runtime, ctx.principal.to_actor(), input.item.spec(), input.stock
            )
            return MallItemPayload(item=MallItemNode(item=item, now=ctx.runtime.clock.now()))

        return await refusal_as_payload(run)

    @described_mutation("Change an item, restock it or take it off sale (staff).")
    async def update_mall_item(self, info: Info, input: UpdateMallItemInput) -> MallItemResult:
        ctx = info.context

        async def run() -> MallItemPayload:
            ctx.require("updateMallItem")
            item = await catalogue.update_item(
                ctx.runtime,
                ctx.principal.to_actor(),
                parse_id(input.id, "id"),
                input.item.spec(),
                stock_delta=input.stock_delta,
                expected_version=input.expected_version,
            )
            return MallItemPayload(item=MallItemNode(item=item, now=ctx.runtime.clock.now()))

        return await refusal_as_payload(run)

    @described_mutation("Upload partner voucher codes to a pool item (staff); each is a unit.")
    async def add_coupon_codes(
        self, info: Info, input: AddCouponCodesInput
    ) -> AddCouponCodesResult:
        ctx = info.context

        async def run() -> CouponCodesAdded:
            ctx.require("addCouponCodes")
            item_id = parse_id(input.item_id, "itemId")
            added = await catalogue.add_coupon_codes(ctx.runtime, item_id, input.codes)
            item = await catalogue.get_item(ctx.runtime, item_id)
            return CouponCodesAdded(
                added=added, item=MallItemNode(item=item, now=ctx.runtime.clock.now())
            )

        return await refusal_as_payload(run)

    @described_mutation("Order an item: points are held and stock reserved until confirmed.")
    async def place_redemption(self, info: Info, input: PlaceRedemptionInput) -> RedemptionResult:
        ctx = info.context

        async def run() -> RedemptionPayload:
            ctx.require("placeRedemption")
            member = parse_id(input.member_id, "memberId")
            await ctx.require_on_member("placeRedemption", member)
            placed = await redemptions.place_redemption(
                ctx.runtime,
                ctx.principal.to_actor(),
                member_id=member,
                item_id=parse_id(input.item_id, "itemId"),
                quantity=input.quantity,
                idempotency_key=input.idempotency_key,
            )
            return RedemptionPayload(
                redemption=RedemptionNode.of(placed.order),
                balance=await balance_after_write(ctx, member),
                replayed=placed.replayed,
            )

        return await refusal_as_payload(run)

    @described_mutation("Confirm a points-only order: its held points are spent.")
    async def confirm_redemption(self, info: Info, input: RedemptionIdInput) -> RedemptionResult:
        ctx = info.context

        async def run() -> RedemptionPayload:
            order_id = parse_id(input.order_id, "orderId")
            await _require_on_order(ctx, "confirmRedemption", order_id)
            order = await redemptions.confirm_redemption(
                ctx.runtime, ctx.principal.to_actor(), order_id
            )
            return RedemptionPayload(
                redemption=RedemptionNode.of(order),
                balance=await balance_after_write(ctx, order.member_id),
            )

        return await refusal_as_payload(run)

    @described_mutation("The channel confirms the cash part of points + cash; the order confirms.")
    async def pay_redemption(self, info: Info, input: PayRedemptionInput) -> RedemptionResult:
        ctx = info.context

        async def run() -> RedemptionPayload:
            order_id = parse_id(input.order_id, "orderId")
            await _require_on_order(ctx, "payRedemption", order_id)
            order = await redemptions.pay_redemption(
                ctx.runtime, ctx.principal.to_actor(), order_id, input.payment_ref, input.amount
            )
            return RedemptionPayload(
                redemption=RedemptionNode.of(order),
                balance=await balance_after_write(ctx, order.member_id),
            )

        return await refusal_as_payload(run)

    @described_mutation("Mark a confirmed order fulfilled (handed over or shipped).")
    async def fulfil_redemption(self, info: Info, input: FulfilRedemptionInput) -> RedemptionResult:
        ctx = info.context

        async def run() -> RedemptionPayload:
            order_id = parse_id(input.order_id, "orderId")
            await _require_on_order(ctx, "fulfilRedemption", order_id)
            order = await redemptions.fulfil_redemption(
                ctx.runtime, ctx.principal.to_actor(), order_id, input.reference
            )
            return RedemptionPayload(
                redemption=RedemptionNode.of(order),
                balance=await balance_after_write(ctx, order.member_id),
            )

        return await refusal_as_payload(run)

    @described_mutation("Cancel an unconfirmed order: hold voided, stock back.")
    async def cancel_redemption(self, info: Info, input: CloseRedemptionInput) -> RedemptionResult:
        ctx = info.context

        async def run() -> RedemptionPayload:
            order_id = parse_id(input.order_id, "orderId")
            await _require_on_order(ctx, "cancelRedemption", order_id)
            order = await redemptions.cancel_redemption(
                ctx.runtime, ctx.principal.to_actor(), order_id, input.reason
            )
            return RedemptionPayload(
                redemption=RedemptionNode.of(order),
                balance=await balance_after_write(ctx, order.member_id),
            )

        return await refusal_as_payload(run)

    @described_mutation("Take back a confirmed order: points return into their original lots.")
    async def return_redemption(self, info: Info, input: CloseRedemptionInput) -> RedemptionResult:
        ctx = info.context

        async def run() -> RedemptionPayload:
            order_id = parse_id(input.order_id, "orderId")
            await _require_on_order(ctx, "returnRedemption", order_id)
            order = await redemptions.return_redemption(
                ctx.runtime, ctx.principal.to_actor(), order_id, input.reason
            )
            return RedemptionPayload(
                redemption=RedemptionNode.of(order),
                balance=await balance_after_write(ctx, order.member_id),
            )

        return await refusal_as_payload(run)

    @described_mutation("Hold points toward a channel's order (抵现); commit or void it later.")
    async def hold_checkout_points(
        self, info: Info, input: HoldCheckoutPointsInput
    ) -> CheckoutPaymentResult:
        ctx = info.context

        async def run() -> CheckoutPaymentPayload:
            ctx.require("holdCheckoutPoints")
            member = parse_id(input.member_id, "memberId")
            if ctx.principal.kind is PrincipalKind.PARTNER:
                ctx.require_on_channel("holdCheckoutPoints", input.channel, member)
            await ctx.require_on_member("holdCheckoutPoints", member)
            payment, replayed = await checkout.hold_for_checkout(
                ctx.runtime,
                ctx.principal.to_actor(),
                member_id=member,
                channel=input.channel,
                order_ref=input.order_ref,
                basket=input.amount,
                points=input.points,
            )
            return CheckoutPaymentPayload(
                payment=CheckoutPaymentNode.of(payment),
                balance=await balance_after_write(ctx, member),
                replayed=replayed,
            )

        return await refusal_as_payload(run)

    @described_mutation("The payment went through: the held points are spent.")
    async def commit_checkout(
        self, info: Info, input: CheckoutPaymentIdInput
    ) -> CheckoutPaymentResult:
        return await _settle(info.context, "commitCheckout", input, commit=True)

    @described_mutation("The payment failed or was cancelled: the held points return.")
    async def void_checkout(
        self, info: Info, input: CheckoutPaymentIdInput
    ) -> CheckoutPaymentResult:
        return await _settle(info.context, "voidCheckout", input, commit=False)

    @described_mutation("Create a lottery, blind box or prize wheel (staff).")
    async def create_lottery_pool(
        self, info: Info, input: CreateLotteryPoolInput
    ) -> LotteryPoolResult:
        ctx = info.context

        async def run() -> LotteryPoolPayload:
            ctx.require("createLotteryPool")
            spec = PoolSpec(
                code=input.code,
                name=input.name,
                kind=input.kind,
                cost_points=input.cost_points,
                prizes=tuple(
                    PrizeSpec(p.code, p.name, p.kind, p.weight, p.points, p.stock)
                    for p in input.prizes
                ),
                fallback_prize_code=input.fallback_prize_code,
            )
            return LotteryPoolPayload(
                pool=PoolNode.of(await lottery.create_pool(ctx.runtime, spec))
            )

        return await refusal_as_payload(run)

    @described_mutation("Draw once: costs points or a free-draw ticket.")
    async def draw_lottery(self, info: Info, input: DrawLotteryInput) -> DrawResult:
        ctx = info.context

        async def run() -> DrawPayload:
            ctx.require("drawLottery")
            member = parse_id(input.member_id, "memberId")
            await ctx.require_on_member("drawLottery", member)
            draw = await lottery.draw(
                ctx.runtime,
                ctx.principal.to_actor(),
                member_id=member,
                pool_code=input.pool_code,
                use_ticket=input.use_ticket,
                idempotency_key=input.idempotency_key,
            )
            return DrawPayload(
                draw=DrawNode.of(draw), balance=await balance_after_write(ctx, member)
            )

        return await refusal_as_payload(run)

    @described_mutation("Grant a free draw (rewards, campaigns); idempotent on sourceRef.")
    async def grant_draw_ticket(self, info: Info, input: GrantDrawTicketInput) -> DrawTicketResult:
        ctx = info.context

        async def run() -> DrawTicketPayload:
            ctx.require("grantDrawTicket")
            member = parse_id(input.member_id, "memberId")
            await ctx.require_on_member("grantDrawTicket", member)
            ticket = await lottery.grant_ticket(
                ctx.runtime, member, input.pool_code, input.source_ref
            )
            return DrawTicketPayload(ticket=TicketNode.of(ticket), created=ticket.created)

        return await refusal_as_payload(run)

    @described_mutation("Register a charity: a programme account donations go to (staff).")
    async def create_charity(self, info: Info, input: CreateCharityInput) -> CharityResult:
        ctx = info.context

        async def run() -> CharityPayload:
            ctx.require("createCharity")
            charity = await donations.create_charity(ctx.runtime, input.code, input.name)
            return CharityPayload(charity=CharityNode.of(charity))

        return await refusal_as_payload(run)

    @described_mutation("Donate points to a charity.")
    async def donate_points(self, info: Info, input: DonatePointsInput) -> DonationResult:
        ctx = info.context

        async def run() -> DonationPayload:
            ctx.require("donatePoints")
            member = parse_id(input.member_id, "memberId")
            await ctx.require_on_member("donatePoints", member)
            donation = await donations.donate(
                ctx.runtime,
                ctx.principal.to_actor(),
                member_id=member,
                charity_code=input.charity_code,
                points=input.points,
                idempotency_key=input.idempotency_key,
            )
            charity = await donations.get_charity(ctx.runtime, input.charity_code)
            return DonationPayload(
                donation=DonationNode.of(donation),
                charity=CharityNode.of(charity),
                balance=await balance_after_write(ctx, member),
            )

        return await refusal_as_payload(run)


async def _settle(
    ctx: Context, operation: str, input: CheckoutPaymentIdInput, *, commit: bool
) -> CheckoutPaymentPayload | MutationError:
    async def run() -> CheckoutPaymentPayload:
        payment_id = parse_id(input.payment_id, "paymentId")
        await _require_on_payment(ctx, operation, payment_id)
        payment = await checkout.settle_checkout(
            ctx.runtime, ctx.principal.to_actor(), payment_id, commit=commit
        )
        return CheckoutPaymentPayload(
            payment=CheckoutPaymentNode.of(payment),
            balance=await balance_after_write(ctx, payment.member_id),
        )

    return await refusal_as_payload(run)
