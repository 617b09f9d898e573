"""Redemption orders: place (points held, stock reserved) → confirm (points spent; for points +
cash once the channel confirms the payment) → fulfil; cancel or time out (hold voided, stock
back); return (the spend reversed: points back into their original lots).

Lock order everywhere: the member's account row (the ledger's lock), then the item row (the
conditional stock update, done last so a hot item's row is locked as briefly as possible: for a
placement, inside its COMMIT).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.errors import DomainError, ErrorCode, invalid, not_found
from app.events.outbox import append_event, member_topic
from app.ledger.accounts import lock_account, member_status
from app.ledger.commands import CommitHold, PlaceHold, Reverse, VoidHold
from app.ledger.models import Actor, HoldStatus
from app.ledger.service import Ledger, LedgerPolicy
from app.mall.catalogue import Catalogue, tier_ranks
from app.mall.policy import (
    CouponSource,
    Fulfilment,
    Item,
    OrderStatus,
    check_limit,
    check_on_sale,
    check_quantity,
    check_tier,
    out_of_stock,
    unit_price,
)
from app.mall.pricing import check_quoted, member_pricing, value_policy
from app.mall.tables import mall_coupon_codes, mall_items, mall_orders
from app.members.claims import Kind, claiming
from app.runtime import Runtime
from app.valuation.value_policy import Payment, ValuePolicy

# A hold outlives its order by this much, so the order's own time-out (which also gives the
# stock back) normally voids it, not the ledger's generic hold time-out.
HOLD_GRACE = timedelta(minutes=5)
MAX_REF = 128


@dataclass(frozen=True)
class Order:
    id: int
    member_id: int
    item_id: int
    quantity: int
    unit_points: int
    points: int
    cash_amount: Decimal
    status: OrderStatus
    hold_id: int | None
    commit_entry_id: int | None
    return_entry_id: int | None
    payment_ref: str | None
    paid_amount: Decimal | None
    source: str
    actor: str
    fulfilment_ref: str | None
    close_reason: str | None
    expires_at: datetime
    created_at: datetime
    confirmed_at: datetime | None
    fulfilled_at: datetime | None
    closed_at: datetime | None
    coupon_codes: tuple[str, ...] = ()

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "item_id": self.item_id,
            "quantity": self.quantity,
            "points": self.points,
            "cash_amount": str(self.cash_amount),
            "status": self.status.value,
            "hold_id": self.hold_id,
            "commit_entry_id": self.commit_entry_id,
            "return_entry_id": self.return_entry_id,
            "coupon_codes": list(self.coupon_codes),
        }


@dataclass(frozen=True)
class RedemptionQuote:
    """The points an item costs the member now, and which lots pay them at which value."""

    item_id: int
    quantity: int
    price: int  # in standard points (the item's points price, times the quantity)
    payment: Payment  # the points the member gives up, lot by lot
    tier: str | None  # the tier whose premium applied (when the policy has premiums)
    quoted_at: datetime


def _order(row: Row[Any], codes: tuple[str, ...] = ()) -> Order:
    m = row._mapping
    return Order(
        **{k: m[k] for k in Order.__dataclass_fields__ if k not in ("status", "coupon_codes")},
        status=OrderStatus(row.status),
        coupon_codes=codes,
    )


def _generated_code() -> str:
    # 16 characters of base32 from the OS's CSPRNG: unguessable, unique by the column's index.
    return "JF" + secrets.token_hex(7).upper()


class Redemptions:
    def __init__(self, conn: AsyncConnection, rt: Runtime) -> None:
        self.conn = conn
        self.rt = rt
        self.clock = rt.clock
        self.ledger = Ledger(conn, rt.clock, LedgerPolicy.from_settings(rt.settings))
        self.catalogue = Catalogue(conn, rt.clock)

    # ------------------------------------------------------------------------------ writes

    async def place(
        self,
        actor: Actor,
        member_id: int,
        item_id: int,
        quantity: int,
        quoted_points: int | None = None,
    ) -> Order:
        """Hold the points the item costs now — under the value policy, the points that pay its
        price from the member's lots (docs/ANALYTICS.md, "Point value") — refusing with
        QUOTE_CHANGED when ``quoted_points``, the figure the member was shown, differs."""
        check_quantity(quantity)
        account = await lock_account(self.conn, member_id)  # first: limits count under it
        now = self.clock.now()
        # Priced for the member (its experiment variant's price, if any); deciding the price it
        # pays is its exposure, so an unassigned member is assigned here, under its lock.
        item = await self.catalogue.priced(item_id, member_id, assign=True)
        check_on_sale(item, now)
        if item.min_tier is not None:
            rank, ranks = await tier_ranks(self.conn, self.clock, self.rt, member_id)
            check_tier(item, rank, ranks.get(item.min_tier))
        if item.per_member_limit is not None:
            already = await self.catalogue.redeemed_one(
                member_id, item, now, self.rt.settings.timezone
            )
            check_limit(item, already, quantity)
        if item.stock_left is not None and item.stock_left < quantity:
            raise out_of_stock(item.name)  # a cheap early answer; the update below decides
        unit = unit_price(item, now)
        points = await self.points_for(member_id, unit * quantity)
        check_quoted(quoted_points, points, "quotedPoints")
        order_id = await self._next_id()
        expires_at = now + timedelta(seconds=self.rt.settings.mall_order_timeout_seconds)
        # The hold adopts this transaction's lock: the account is not locked and read twice.
        account.status = await member_status(self.conn, member_id)
        hold = await self.ledger.hold(
            PlaceHold(
                member_id=member_id,
                amount=points,
                reason=f"mall: {item.name}",
                reference=f"mall-order:{order_id}",
                expires_at=expires_at + HOLD_GRACE,
            ),
            actor,
            lock=account,
        )
        # The stock is taken by the database inside this transaction's COMMIT (a deferred
        # trigger, migration 0039): the item's row is a rush's hot spot, and locked there it
        # waits for no round trip to this process, whose event loop a rush keeps busy. Too
        # little stock then fails the COMMIT, rolling back the hold and the order with it
        # (:func:`stock_gone_at_commit`).
        return await self._insert(
            actor,
            order_id,
            member_id,
            item,
            quantity,
            unit,
            item.cash_price,
            hold.id,
            expires_at,
            points=points,
            stock_at_commit=not item.unlimited,
        )

    async def quote(self, member_id: int, item_id: int, quantity: int) -> RedemptionQuote:
        """What the member would pay for ``quantity`` of the item now, lot by lot: the figure
        ``place`` applies (``quotedPoints``) unless the price or the member's lots change."""
        check_quantity(quantity)
        item = await self.catalogue.priced(item_id, member_id, assign=False)
        check_on_sale(item, self.clock.now())
        price = unit_price(item, self.clock.now()) * quantity
        pricing = await member_pricing(self.conn, self.rt, member_id)
        if not pricing.policy.active:
            pricing = replace(pricing, policy=ValuePolicy())
        payment = pricing.paying(price)
        return RedemptionQuote(item.id, quantity, price, payment, pricing.tier, pricing.now)

    async def points_for(self, member_id: int, price: int) -> int:
        """The points that pay ``price`` now: the price itself without a value policy."""
        if not value_policy(self.rt).active:
            return price
        return (await member_pricing(self.conn, self.rt, member_id)).paying(price).points

    async def place_won(
        self, actor: Actor, member_id: int, item_id: int, points: int, hold_id: int
    ) -> Order:
        """One unit of ``item_id`` for a hold placed elsewhere (an auction's winning bid, held
        under the caller's account lock): the stock is taken first (OUT_OF_STOCK before any
        write), then the order is placed with that hold and confirmed at once (the hold
        committed; an INSTANT item fulfilled). Points only: no cash part."""
        item = await self.catalogue.get(item_id)
        await self._take_stock(item, 1)
        now = self.clock.now()
        order_id = await self._next_id()
        expires_at = now + timedelta(seconds=self.rt.settings.mall_order_timeout_seconds)
        order = await self._insert(
            actor, order_id, member_id, item, 1, points, Decimal(0), hold_id, expires_at
        )
        return await self._commit(order, actor)

    async def _next_id(self) -> int:
        return int(
            await self.conn.scalar(
                text("SELECT nextval(pg_get_serial_sequence('mall_orders', 'id'))")
            )
        )

    async def _insert(
        self,
        actor: Actor,
        order_id: int,
        member_id: int,
        item: Item,
        quantity: int,
        unit: int,
        unit_cash: Decimal,
        hold_id: int,
        expires_at: datetime,
        *,
        points: int | None = None,
        stock_at_commit: bool = False,
    ) -> Order:
        row = (
            await self.conn.execute(
                mall_orders.insert()
                .values(
                    id=order_id,
                    stock_at_commit=stock_at_commit,
                    member_id=member_id,
                    item_id=item.id,
                    quantity=quantity,
                    unit_points=unit,
                    points=unit * quantity if points is None else points,
                    cash_amount=unit_cash * quantity,
                    status=OrderStatus.PLACED.value,
                    hold_id=hold_id,
                    source=actor.source,
                    actor=actor.principal,
                    expires_at=expires_at,
                    created_at=self.clock.now(),
                )
                .returning(*mall_orders.c)
            )
        ).one()
        order = _order(row)
        await self._event(order, "redemption.placed")
        return order

    async def confirm(self, order_id: int, actor: Actor) -> Order:
        """Spend the held points of a points-only order (or one whose cash part is paid)."""
        order = await self._lock_order(order_id)
        self._require_open(order)
        if order.cash_amount > 0 and order.paid_amount is None:
            raise DomainError(
                ErrorCode.PAYMENT_REQUIRED,
                f"order {order_id} waits for its cash part ({order.cash_amount} CNY) to be paid",
                "orderId",
            )
        return await self._commit(order, actor)

    async def pay(self, order_id: int, payment_ref: str, amount: Decimal, actor: Actor) -> Order:
        """The channel confirms the cash part; the order is then confirmed in the same step."""
        if not payment_ref.strip() or len(payment_ref) > MAX_REF:
            raise invalid(f"paymentRef must be 1..{MAX_REF} characters", "paymentRef")
        order = await self._lock_order(order_id)
        if order.payment_ref == payment_ref:
            return order  # the same payment reported again: nothing more to do
        if order.paid_amount is not None:
            raise DomainError(
                ErrorCode.ALREADY_PAID,
                f"order {order_id}'s cash part was already paid ({order.payment_ref})",
                "paymentRef",
            )
        if order.cash_amount == 0:
            raise DomainError(ErrorCode.INVALID_STATE, f"order {order_id} has no cash part")
        self._require_open(order)
        if amount != order.cash_amount:
            raise invalid(f"the cash part is {order.cash_amount} CNY, not {amount}", "amount")
        await self._refuse_paid_elsewhere(payment_ref)
        # The payment is claimed across members (app/members/claims.py) in the same statement:
        # another order paid with it meanwhile (its claim first), this order is left unpaid.
        claimed = claiming(Kind.PAYMENT, "", payment_ref, order.member_id).cte("claimed")
        paying = await self.conn.execute(
            mall_orders.update()
            .where(mall_orders.c.id == order_id, select(claimed).exists())
            .values(payment_ref=payment_ref, paid_amount=amount)
            .add_cte(claimed)
        )
        if paying.rowcount == 0:
            await self._refuse_paid_elsewhere(payment_ref)
            raise DomainError(ErrorCode.ALREADY_PAID, f"payment {payment_ref} is claimed")
        paid = await self.get(order_id)
        await self._event(paid, "redemption.paid")
        return await self._commit(paid, actor)

    async def fulfil(self, order_id: int, actor: Actor, reference: str | None) -> Order:
        if reference is not None and len(reference) > MAX_REF:
            raise invalid(f"reference is longer than {MAX_REF} characters", "reference")
        order = await self._lock_order(order_id)
        if order.status is not OrderStatus.CONFIRMED:
            raise _state(order, "fulfilled")
        done = await self._set(
            order,
            status=OrderStatus.FULFILLED,
            fulfilled_at=self.clock.now(),
            fulfilment_ref=reference,
        )
        await self._event(done, "redemption.fulfilled", actor)
        return done

    async def cancel(
        self, order_id: int, actor: Actor, reason: str, *, timed_out: bool = False
    ) -> tuple[Order, Item]:
        """Void the hold (points back into the same lots) and give the stock back."""
        if not reason.strip() or len(reason) > 500:
            raise invalid("reason must be 1..500 characters", "reason")
        order = await self._lock_order(order_id)
        if order.status is not OrderStatus.PLACED:
            raise _state(order, "cancelled")
        if timed_out and order.expires_at > self.clock.now():
            raise DomainError(ErrorCode.INVALID_STATE, f"order {order_id} has not timed out")
        if order.hold_id is not None:
            hold = await self.ledger.get_hold(order.hold_id)
            if hold.status is HoldStatus.ACTIVE:  # the ledger's own time-out may have voided it
                await self.ledger.void_hold(VoidHold(hold_id=order.hold_id, reason=reason), actor)
        item = await self._give_stock_back(order)
        status = OrderStatus.EXPIRED if timed_out else OrderStatus.CANCELLED
        closed = await self._set(
            order, status=status, closed_at=self.clock.now(), close_reason=reason
        )
        await self._event(closed, f"redemption.{status.value}", actor)
        return closed, item

    async def return_(self, order_id: int, actor: Actor, reason: str) -> tuple[Order, Item]:
        """After confirmation: reverse the spend (points back into their original lots, with
        their original expiry), void its coupon codes and give the stock back."""
        if not reason.strip() or len(reason) > 500:
            raise invalid("reason must be 1..500 characters", "reason")
        order = await self._lock_order(order_id)
        if order.status not in (OrderStatus.CONFIRMED, OrderStatus.FULFILLED):
            raise _state(order, "returned")
        assert order.commit_entry_id is not None  # a confirmed order has its spend
        entry = await self.ledger.reverse(
            Reverse(entry_id=order.commit_entry_id, reason=reason), actor
        )
        await self.conn.execute(
            mall_coupon_codes.update()
            .where(mall_coupon_codes.c.order_id == order_id)
            .values(status="void")
        )
        item = await self._give_stock_back(order, codes_issued=True)
        returned = await self._set(
            order,
            status=OrderStatus.RETURNED,
            return_entry_id=entry.id,
            closed_at=self.clock.now(),
            close_reason=reason,
        )
        await self._event(returned, "redemption.returned", actor)
        return returned, item

    # ------------------------------------------------------------------------------- reads

    async def get(self, order_id: int) -> Order:
        row = (
            await self.conn.execute(select(mall_orders).where(mall_orders.c.id == order_id))
        ).first()
        if row is None:
            raise not_found("order", order_id, "orderId")
        codes = await self.conn.scalars(
            select(mall_coupon_codes.c.code)
            .where(mall_coupon_codes.c.order_id == order_id)
            .order_by(mall_coupon_codes.c.id)
        )
        return _order(row, tuple(codes.all()))

    async def list_for(
        self,
        member_id: int | None,
        *,
        first: int,
        before_id: int | None,
        status: OrderStatus | None,
    ) -> list[Order]:
        """One member's orders, or every member's when ``member_id`` is None; newest first."""
        query = select(mall_orders)
        if member_id is not None:
            query = query.where(mall_orders.c.member_id == member_id)
        if before_id is not None:
            query = query.where(mall_orders.c.id < before_id)
        if status is not None:
            query = query.where(mall_orders.c.status == status.value)
        rows = (await self.conn.execute(query.order_by(mall_orders.c.id.desc()).limit(first))).all()
        codes: dict[int, list[str]] = {}
        if rows:
            found = await self.conn.execute(
                select(mall_coupon_codes.c.order_id, mall_coupon_codes.c.code)
                .where(mall_coupon_codes.c.order_id.in_([r.id for r in rows]))
                .order_by(mall_coupon_codes.c.id)
            )
            for order_id, code in found:
                codes.setdefault(order_id, []).append(code)
        return [_order(r, tuple(codes.get(r.id, ()))) for r in rows]

    async def timed_out_ids(self, limit: int) -> list[int]:
        found = await self.conn.scalars(
            select(mall_orders.c.id)
            .where(
                mall_orders.c.status == OrderStatus.PLACED.value,
                mall_orders.c.expires_at <= self.clock.now(),
            )
            .order_by(mall_orders.c.expires_at, mall_orders.c.id)
            .limit(limit)
        )
        return list(found.all())

    # --------------------------------------------------------------------------- mechanics

    async def _refuse_paid_elsewhere(self, payment_ref: str) -> None:
        """ALREADY_PAID when an order was paid with ``payment_ref``."""
        other = await self.conn.scalar(
            select(mall_orders.c.id).where(mall_orders.c.payment_ref == payment_ref)
        )
        if other is not None:
            raise DomainError(
                ErrorCode.ALREADY_PAID, f"payment {payment_ref} already paid order {other}"
            )

    async def _lock_order(self, order_id: int) -> Order:
        order = await self.get(order_id)
        await lock_account(self.conn, order.member_id)
        return await self.get(order_id)  # re-read under the member's lock

    def _require_open(self, order: Order) -> None:
        if order.status is not OrderStatus.PLACED:
            raise _state(order, "confirmed")
        if order.expires_at <= self.clock.now():
            raise DomainError(
                ErrorCode.INVALID_STATE,
                f"order {order.id} timed out at {order.expires_at.isoformat()}",
                "orderId",
            )

    async def _take_stock(self, item: Item, quantity: int) -> None:
        if item.unlimited:
            return
        taken = await self.conn.scalar(
            mall_items.update()
            .where(mall_items.c.id == item.id, mall_items.c.stock_left >= quantity)
            .values(stock_left=mall_items.c.stock_left - quantity)
            .returning(mall_items.c.id)
        )
        if taken is None:
            raise out_of_stock(item.name)

    async def _give_stock_back(self, order: Order, *, codes_issued: bool = False) -> Item:
        item = await self.catalogue.get(order.item_id)
        if item.unlimited:
            return item
        if codes_issued and item.coupon_source is CouponSource.POOL:
            # A pool's stock is its free codes; codes handed out are void, never reissued.
            return item
        await self.conn.execute(
            mall_items.update()
            .where(mall_items.c.id == order.item_id)
            .values(stock_left=mall_items.c.stock_left + order.quantity)
        )
        return item

    async def _commit(self, order: Order, actor: Actor) -> Order:
        assert order.hold_id is not None
        entry = await self.ledger.commit_hold(CommitHold(hold_id=order.hold_id), actor)
        item = await self.catalogue.get(order.item_id)
        await self._issue_codes(order, item)
        now = self.clock.now()
        instant = item.fulfilment is Fulfilment.INSTANT
        done = await self._set(
            order,
            status=OrderStatus.FULFILLED if instant else OrderStatus.CONFIRMED,
            commit_entry_id=entry.id,
            confirmed_at=now,
            fulfilled_at=now if instant else None,
        )
        await self._event(done, "redemption.confirmed", actor)
        if instant:
            await self._event(done, "redemption.fulfilled", actor)
        return done

    async def _issue_codes(self, order: Order, item: Item) -> None:
        if item.coupon_source is None:
            return
        now = self.clock.now()
        issued = {
            "status": "issued",
            "order_id": order.id,
            "member_id": order.member_id,
            "issued_at": now,
        }
        if item.coupon_source is CouponSource.GENERATOR:
            await self.conn.execute(
                mall_coupon_codes.insert(),
                [
                    {"item_id": item.id, "code": _generated_code(), **issued}
                    for _ in range(order.quantity)
                ],
            )
            return
        # From the pool: the order reserved a unit of stock per code, so the codes are there.
        free = (
            select(mall_coupon_codes.c.id)
            .where(mall_coupon_codes.c.item_id == item.id, mall_coupon_codes.c.status == "free")
            .order_by(mall_coupon_codes.c.id)
            .limit(order.quantity)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        got = await self.conn.scalars(
            mall_coupon_codes.update()
            .where(mall_coupon_codes.c.id.in_(free))
            .values(**issued)
            .returning(mall_coupon_codes.c.id)
        )
        if len(got.all()) != order.quantity:
            raise RuntimeError(f"item {item.id}: fewer free codes than its stock says")

    async def _set(self, order: Order, **values: Any) -> Order:
        await self.conn.execute(
            mall_orders.update()
            .where(mall_orders.c.id == order.id)
            .values(**{k: v.value if isinstance(v, OrderStatus) else v for k, v in values.items()})
        )
        return await self.get(order.id)

    async def _event(self, order: Order, event_type: str, actor: Actor | None = None) -> None:
        payload: dict[str, Any] = {"member_id": order.member_id, "order": order.payload()}
        if actor is not None:
            payload["actor"] = actor.principal
        await append_event(self.conn, member_topic(order.member_id), event_type, payload)


# What the deferred stock trigger raises when the item has too little stock left at COMMIT.
STOCK_GONE_AT_COMMIT = "JF409"


def stock_gone_at_commit(error: BaseException) -> bool:
    """True when a placement's COMMIT failed because its stock was gone (the transaction is
    rolled back: nothing of it was written)."""
    cause: BaseException | None = error
    if isinstance(error, DBAPIError):  # through SQLAlchemy; else the driver's own error
        cause = error.orig.__cause__ if error.orig is not None else None
    return getattr(cause, "sqlstate", None) == STOCK_GONE_AT_COMMIT


def _state(order: Order, wanted: str) -> DomainError:
    return DomainError(
        ErrorCode.INVALID_STATE,
        f"order {order.id} is {order.status.value}: it cannot be {wanted}",
        "orderId",
    )
