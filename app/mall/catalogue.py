"""The catalogue: items staff manage, coupon-code pools, browsing, and member offers."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.clock import Clock
from app.db import unit_of_work
from app.errors import DomainError, ErrorCode, invalid, not_found
from app.ledger.models import Actor
from app.mall.policy import (
    OPEN_OR_DONE,
    CouponSource,
    Fulfilment,
    Item,
    ItemKind,
    LimitPeriod,
    MemberView,
    Offer,
    PriceRule,
    offers_for,
    period_start,
)
from app.mall.tables import mall_coupon_codes, mall_items, mall_orders
from app.mall.variants import price_columns, priced, priced_for
from app.runtime import Runtime
from app.tiers.policy import TierPolicy
from app.tiers.service import TierService

MAX_CODE = 64
MAX_CODES_PER_CALL = 10_000


@dataclass(frozen=True)
class ItemSpec:
    """What staff give for an item (stock is set at creation and changed by deltas)."""

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
    price_rules: tuple[PriceRule, ...] = ()
    best_before: datetime | None = None
    flash: bool = False
    coupon_source: CouponSource | None = None
    fulfilment: Fulfilment = Fulfilment.INSTANT
    active: bool = True

    def check(self) -> None:
        if not self.code.strip() or len(self.code) > MAX_CODE:
            raise invalid(f"code must be 1..{MAX_CODE} characters", "code")
        if not self.name.strip() or len(self.name) > 200:
            raise invalid("name must be 1..200 characters", "name")
        if len(self.description) > 5000:
            raise invalid("description is longer than 5000 characters", "description")
        if not 1 <= self.points_price <= 10_000_000:
            raise invalid("pointsPrice must be 1..10,000,000 points", "pointsPrice")
        if self.cash_price < 0 or self.cash_price != self.cash_price.quantize(Decimal("0.01")):
            raise invalid("cashPrice must be CNY ≥ 0 with at most 2 decimals", "cashPrice")
        if self.per_member_limit is not None and self.per_member_limit < 1:
            raise invalid("perMemberLimit must be at least 1", "perMemberLimit")
        moments = {
            "saleStartsAt": self.sale_starts_at,
            "saleEndsAt": self.sale_ends_at,
            "bestBefore": self.best_before,
        }
        for name, moment in moments.items():
            if moment is not None and moment.tzinfo is None:
                raise invalid("give a time zone offset", name)
        if self.sale_starts_at and self.sale_ends_at and self.sale_ends_at <= self.sale_starts_at:
            raise invalid("the sale must end after it starts", "saleEndsAt")
        if self.price_rules and self.best_before is None:
            raise invalid("near-expiry price rules need the goods' bestBefore", "bestBefore")
        if self.coupon_source is not None and self.kind not in (
            ItemKind.COUPON,
            ItemKind.PARTNER_VOUCHER,
            ItemKind.PARKING,
        ):
            raise invalid("only coupons, vouchers and parking coupons carry codes", "couponSource")

    def columns(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "kind": self.kind.value,
            "points_price": self.points_price,
            "cash_price": self.cash_price,
            "description": self.description,
            "image_url": self.image_url,
            "per_member_limit": self.per_member_limit,
            "limit_period": None if self.limit_period is None else self.limit_period.value,
            "min_tier": self.min_tier,
            "sale_starts_at": self.sale_starts_at,
            "sale_ends_at": self.sale_ends_at,
            "price_rules": [r.as_json() for r in self.price_rules],
            "best_before": self.best_before,
            "flash": self.flash,
            "coupon_source": None if self.coupon_source is None else self.coupon_source.value,
            "fulfilment": self.fulfilment.value,
            "active": self.active,
        }


@dataclass(frozen=True)
class BrowseFilter:
    kinds: tuple[ItemKind, ...] = ()
    on_sale_only: bool = False
    max_points: int | None = None
    codes: tuple[str, ...] = ()


def item_of(row: Row[Any]) -> Item:
    return Item(
        id=row.id,
        code=row.code,
        name=row.name,
        description=row.description,
        image_url=row.image_url,
        kind=ItemKind(row.kind),
        points_price=row.points_price,
        cash_price=Decimal(row.cash_price),
        stock_total=row.stock_total,
        stock_left=row.stock_left,
        per_member_limit=row.per_member_limit,
        limit_period=None if row.limit_period is None else LimitPeriod(row.limit_period),
        min_tier=row.min_tier,
        sale_starts_at=row.sale_starts_at,
        sale_ends_at=row.sale_ends_at,
        price_rules=tuple(PriceRule(r["within_days"], r["percent_off"]) for r in row.price_rules),
        best_before=row.best_before,
        flash=row.flash,
        coupon_source=None if row.coupon_source is None else CouponSource(row.coupon_source),
        fulfilment=Fulfilment(row.fulfilment),
        active=row.active,
        version=row.version,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


class Catalogue:
    def __init__(self, conn: AsyncConnection, clock: Clock) -> None:
        self.conn = conn
        self.clock = clock

    async def create(self, spec: ItemSpec, stock: int | None, actor: Actor) -> Item:
        spec.check()
        if stock is not None and stock < 0:
            raise invalid("stock must not be negative (leave it out for unlimited)", "stock")
        if spec.coupon_source is CouponSource.POOL and stock not in (None, 0):
            raise invalid("a pool's stock is its free codes: add codes instead", "stock")
        if spec.coupon_source is CouponSource.POOL:
            stock = 0
        now = self.clock.now()
        row = (
            await self.conn.execute(
                insert(mall_items)
                .values(
                    **spec.columns(),
                    stock_total=stock,
                    stock_left=stock,
                    created_at=now,
                    updated_at=now,
                    updated_by=actor.principal,
                )
                .on_conflict_do_nothing(index_elements=["code"])
                .returning(*mall_items.c)
            )
        ).first()
        if row is None:
            raise DomainError(ErrorCode.ALREADY_EXISTS, f"item {spec.code} exists", "code")
        return item_of(row)

    async def update(
        self,
        item_id: int,
        spec: ItemSpec,
        actor: Actor,
        *,
        stock_delta: int = 0,
        expected_version: int | None = None,
    ) -> Item:
        """Change an item; ``stock_delta`` adds or removes units (never below what orders hold)."""
        spec.check()
        current = await self.get(item_id, lock=True)
        if expected_version is not None and current.version != expected_version:
            raise DomainError(
                ErrorCode.INVALID_STATE,
                f"item {item_id} is at version {current.version}, not {expected_version}",
                "expectedVersion",
            )
        if spec.coupon_source != current.coupon_source:
            raise invalid("an item's coupon source cannot change", "couponSource")
        if spec.coupon_source is CouponSource.POOL and stock_delta:
            raise invalid("a pool's stock is its free codes: add codes instead", "stockDelta")
        stock: dict[str, Any] = {}
        if stock_delta:
            if current.stock_left is None or current.stock_total is None:
                raise invalid("the item has unlimited stock", "stockDelta")
            if current.stock_left + stock_delta < 0:
                raise invalid(
                    f"only {current.stock_left} units are not reserved by orders", "stockDelta"
                )
            stock = {
                "stock_total": current.stock_total + stock_delta,
                "stock_left": mall_items.c.stock_left + stock_delta,
            }
        row = (
            await self.conn.execute(
                mall_items.update()
                .where(mall_items.c.id == item_id)
                .values(
                    **{k: v for k, v in spec.columns().items() if k != "code"},
                    **stock,
                    version=mall_items.c.version + 1,
                    updated_at=self.clock.now(),
                    updated_by=actor.principal,
                )
                .returning(*mall_items.c)
            )
        ).one()
        return item_of(row)

    async def add_coupon_codes(self, item_id: int, codes: list[str]) -> int:
        """Add codes to a pool item; each new code is one more unit of stock."""
        item = await self.get(item_id, lock=True)
        if item.coupon_source is not CouponSource.POOL:
            raise invalid("this item does not take codes from a pool", "itemId")
        if not 1 <= len(codes) <= MAX_CODES_PER_CALL:
            raise invalid(f"give 1..{MAX_CODES_PER_CALL} codes", "codes")
        if any(not c.strip() or len(c) > MAX_CODE for c in codes) or len(set(codes)) != len(codes):
            raise invalid(f"codes must be distinct, 1..{MAX_CODE} characters", "codes")
        added = await self.conn.scalars(
            insert(mall_coupon_codes)
            .values([{"item_id": item_id, "code": c, "status": "free"} for c in codes])
            .on_conflict_do_nothing(index_elements=["code"])
            .returning(mall_coupon_codes.c.id)
        )
        count = len(added.all())
        if count != len(codes):
            raise DomainError(
                ErrorCode.ALREADY_EXISTS,
                f"{len(codes) - count} of the codes exist already",
                "codes",
            )
        await self.conn.execute(
            mall_items.update()
            .where(mall_items.c.id == item_id)
            .values(
                stock_total=mall_items.c.stock_total + count,
                stock_left=mall_items.c.stock_left + count,
                version=mall_items.c.version + 1,
            )
        )
        return count

    async def get(self, item_id: int, *, lock: bool = False) -> Item:
        query = select(mall_items).where(mall_items.c.id == item_id)
        row = (await self.conn.execute(query.with_for_update() if lock else query)).first()
        if row is None:
            raise not_found("item", item_id, "itemId")
        return item_of(row)

    async def priced(self, item_id: int, member_id: int, *, assign: bool) -> Item:
        """The item as ``member_id`` pays for it: its points price may be the member's
        experiment variant's (app/mall/variants.py), read in the same statement as the item.
        ``assign``: deciding this price is the member's exposure (a redemption, under the
        member's account lock); False for a quote."""
        query = select(mall_items, *price_columns()).where(mall_items.c.id == item_id)
        row = (await self.conn.execute(query, {"member_id": member_id})).first()
        if row is None:
            raise not_found("item", item_id, "itemId")
        return await priced(
            self.conn, item_of(row), member_id, row, self.clock.now(), assign=assign
        )

    async def by_code(self, code: str) -> Item:
        row = (await self.conn.execute(select(mall_items).where(mall_items.c.code == code))).first()
        if row is None:
            raise not_found("item", code, "code")
        return item_of(row)

    async def browse(self, where: BrowseFilter, *, after_id: int | None, first: int) -> list[Item]:
        query = select(mall_items)
        if where.kinds:
            query = query.where(mall_items.c.kind.in_([k.value for k in where.kinds]))
        if where.codes:
            query = query.where(mall_items.c.code.in_(where.codes))
        if where.max_points is not None:
            query = query.where(mall_items.c.points_price <= where.max_points)
        if where.on_sale_only:
            now = self.clock.now()
            query = query.where(
                mall_items.c.active,
                (mall_items.c.sale_starts_at.is_(None)) | (mall_items.c.sale_starts_at <= now),
                (mall_items.c.sale_ends_at.is_(None)) | (mall_items.c.sale_ends_at > now),
                (mall_items.c.stock_left.is_(None)) | (mall_items.c.stock_left > 0),
            )
        if after_id is not None:
            query = query.where(mall_items.c.id > after_id)
        rows = await self.conn.execute(query.order_by(mall_items.c.id).limit(first))
        return [item_of(row) for row in rows]

    async def redeemed(self, member_id: int, items: list[Item], tz: str) -> dict[int, int]:
        """Units of each limited item the member holds or got in the item's current period: one
        statement for the whole list, however long."""
        now = self.clock.now()
        limited = [item for item in items if item.per_member_limit is not None]
        if not limited:
            return {}
        query = (
            select(mall_orders.c.item_id, func.sum(mall_orders.c.quantity))
            .where(
                mall_orders.c.member_id == member_id,
                mall_orders.c.status.in_([s.value for s in OPEN_OR_DONE]),
                or_(*(self._in_period(item, now, tz) for item in limited)),
            )
            .group_by(mall_orders.c.item_id)
        )
        found = {item_id: int(units) for item_id, units in await self.conn.execute(query)}
        return {item.id: found.get(item.id, 0) for item in limited}

    @staticmethod
    def _in_period(item: Item, now: datetime, tz: str) -> ColumnElement[bool]:
        """An order of ``item`` placed in the item's current limit period."""
        since = period_start(now, item.limit_period or LimitPeriod.EVER, tz)
        if since is None:
            return mall_orders.c.item_id == item.id
        return and_(mall_orders.c.item_id == item.id, mall_orders.c.created_at >= since)

    async def redeemed_one(self, member_id: int, item: Item, now: datetime, tz: str) -> int:
        since = period_start(now, item.limit_period or LimitPeriod.EVER, tz)
        query = select(func.coalesce(func.sum(mall_orders.c.quantity), 0)).where(
            mall_orders.c.member_id == member_id,
            mall_orders.c.item_id == item.id,
            mall_orders.c.status.in_([s.value for s in OPEN_OR_DONE]),
        )
        if since is not None:
            query = query.where(mall_orders.c.created_at >= since)
        return int(await self.conn.scalar(query) or 0)


async def tier_ranks(
    conn: AsyncConnection, clock: Clock, rt: Runtime, member_id: int
) -> tuple[int | None, dict[str, int]]:
    """The member's tier rank (None without tiers) and every tier's rank by code."""
    service = TierService(conn, clock, TierPolicy.from_settings(rt.settings))
    defs = await service.definitions()
    tier = await service.tier_of(member_id, defs)
    return (None if tier is None else tier.rank), {d.code: d.rank for d in defs}


# ------------------------------------------------------------------------------ use cases


async def create_item(rt: Runtime, actor: Actor, spec: ItemSpec, stock: int | None) -> Item:
    async with unit_of_work(rt.engine) as conn:
        await _check_tier_code(conn, rt, spec)
        return await Catalogue(conn, rt.clock).create(spec, stock, actor)


async def ensure_item(rt: Runtime, actor: Actor, spec: ItemSpec, stock: int | None) -> Item:
    """Create the item unless one with its code exists (the demo seed)."""
    try:
        return await create_item(rt, actor, spec, stock)
    except DomainError as error:
        if error.code is not ErrorCode.ALREADY_EXISTS:
            raise
        return await get_item_by_code(rt, spec.code)


async def update_item(
    rt: Runtime,
    actor: Actor,
    item_id: int,
    spec: ItemSpec,
    *,
    stock_delta: int = 0,
    expected_version: int | None = None,
) -> Item:
    async with unit_of_work(rt.engine) as conn:
        await _check_tier_code(conn, rt, spec)
        catalogue = Catalogue(conn, rt.clock)
        current = await catalogue.get(item_id)
        item = await catalogue.update(
            item_id,
            replace(spec, code=current.code),
            actor,
            stock_delta=stock_delta,
            expected_version=expected_version,
        )
    if item.flash and stock_delta:
        from app.mall.flash import FlashGate, sold_out

        await FlashGate(rt.redis).adjust_stock(item.id, stock_delta)
        sold_out(rt).forget(item.id)
    return item


async def add_coupon_codes(rt: Runtime, item_id: int, codes: list[str]) -> int:
    async with unit_of_work(rt.engine) as conn:
        return await Catalogue(conn, rt.clock).add_coupon_codes(item_id, codes)


async def member_offers(
    rt: Runtime, member_id: int, available: int, items: list[Item], now: datetime
) -> dict[int, Offer]:
    """What each item would cost the member now, and whether it may order it (the catalogue
    browsed for a member). ``available`` is the member's spendable points, as the caller read
    them."""
    async with rt.read(member_id) as conn:
        rank, ranks = await tier_ranks(conn, rt.clock, rt, member_id)
        redeemed = await Catalogue(conn, rt.clock).redeemed(member_id, items, rt.settings.timezone)
        # Each offer at the member's price: its experiment variant's, if any (a preview here:
        # browsing assigns no one; app/mall/variants.py).
        items = await priced_for(conn, items, member_id, now)
    return offers_for(items, MemberView(available, rank, redeemed), ranks, now)


async def get_item(rt: Runtime, item_id: int) -> Item:
    async with rt.read() as conn:
        return await Catalogue(conn, rt.clock).get(item_id)


async def get_item_by_code(rt: Runtime, code: str) -> Item:
    async with rt.read() as conn:
        return await Catalogue(conn, rt.clock).by_code(code)


async def browse(
    rt: Runtime, where: BrowseFilter, *, after_id: int | None, first: int
) -> list[Item]:
    async with rt.read() as conn:
        return await Catalogue(conn, rt.clock).browse(where, after_id=after_id, first=first)


async def _check_tier_code(conn: AsyncConnection, rt: Runtime, spec: ItemSpec) -> None:
    if spec.min_tier is None:
        return
    defs = await TierService(conn, rt.clock, TierPolicy.from_settings(rt.settings)).definitions()
    if spec.min_tier not in {d.code for d in defs}:
        raise invalid(f"no tier {spec.min_tier}", "minTier")
