"""Points at checkout ("抵现"): a channel asks how much of a basket points may pay, holds
them, and commits or voids the hold with its payment.

One payment per (channel, order reference): holding again for the same order returns the
first payment (so a till that retries after a time-out does not hold twice).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import unit_of_work
from app.errors import DomainError, ErrorCode, invalid, not_found
from app.events.outbox import append_event, member_topic
from app.ledger.accounts import lock_account
from app.ledger.commands import CommitHold, PlaceHold, VoidHold
from app.ledger.idempotency import reused
from app.ledger.models import Actor
from app.ledger.service import Ledger, LedgerPolicy
from app.mall.policy import (
    CheckoutPolicy,
    CheckoutQuote,
    check_basket,
    check_checkout_points,
    checkout_quote,
    cny,
)
from app.mall.pricing import check_quoted, member_pricing
from app.mall.tables import checkout_payments
from app.members.claims import Kind, insert_claimed
from app.runtime import Runtime
from app.valuation.queries import point_value_at
from app.valuation.value_policy import LotPayment


@dataclass(frozen=True)
class CheckoutPayment:
    id: int
    member_id: int
    channel: str
    order_ref: str
    basket_amount: Decimal
    points: int
    cash_value: Decimal
    hold_id: int
    status: str  # held | committed | voided
    entry_id: int | None
    created_at: datetime
    settled_at: datetime | None


def _payment(row: Row[Any]) -> CheckoutPayment:
    m = row._mapping
    return CheckoutPayment(**{k: m[k] for k in CheckoutPayment.__dataclass_fields__})


async def policy_of(rt: Runtime, conn: AsyncConnection) -> CheckoutPolicy:
    """Checkout's terms now: a point pays the point value in force now (its history:
    docs/ANALYTICS.md, "Liability"), so a repricing moves checkout and the figures together."""
    s = rt.settings
    return CheckoutPolicy(
        point_value=await point_value_at(conn, rt.clock.now(), Decimal(s.point_value_cny)),
        max_share=Decimal(s.checkout_max_share),
        min_points=s.checkout_min_points,
        step=1,
    )


def _ledger(rt: Runtime, conn: Any) -> Ledger:
    return Ledger(conn, rt.clock, LedgerPolicy.from_settings(rt.settings))


@dataclass(frozen=True)
class CheckoutOffer:
    """What points may pay of a basket, and what ``points`` of them are worth: under the value
    policy each point counts what its lot is worth (docs/ANALYTICS.md, "Point value")."""

    quote: CheckoutQuote  # the most points may pay, and their value
    points: int  # the points this offer prices (the most, unless the caller named a number)
    value: Decimal  # what ``points`` pay, in CNY
    lots: tuple[LotPayment, ...]  # which lots pay them, at which factor

    @property
    def max_points(self) -> int:
        return self.quote.max_points

    @property
    def cash_value(self) -> Decimal:
        return self.quote.cash_value

    @property
    def rest_to_pay(self) -> Decimal:
        return self.quote.rest_to_pay


async def _offer(
    rt: Runtime, conn: AsyncConnection, member_id: int, basket: Decimal, points: int | None
) -> tuple[CheckoutPolicy, CheckoutOffer]:
    policy = await policy_of(rt, conn)
    pricing = await member_pricing(conn, rt, member_id)
    cap = basket * policy.max_share / policy.point_value  # in standard points
    available = sum(lot.remaining for lot in pricing.lots)
    offered = checkout_quote(policy, basket, available)
    if pricing.policy.active:  # the most points are worth their lots' value, not face value
        offered = checkout_quote(policy, basket, available, pricing.most_within(cap))
        paid = cny(pricing.worth(offered.max_points).value * policy.point_value)
        offered = replace(offered, cash_value=paid, rest_to_pay=basket - paid)
    chosen = offered.max_points if points is None else points
    payment = pricing.worth(chosen)
    return policy, CheckoutOffer(
        offered, chosen, cny(payment.value * policy.point_value), payment.lots
    )


async def quote(
    rt: Runtime, member_id: int, basket: Decimal, points: int | None = None
) -> CheckoutOffer:
    """The most points may pay of the basket; with ``points``, what those points pay."""
    check_basket(basket)
    if points is not None and not 0 < points <= rt.settings.max_points_per_operation:
        raise invalid("points must be a positive number of points", "points")
    async with rt.read(member_id) as conn:
        await _ledger(rt, conn).balance(member_id)  # NOT_FOUND for an unknown member
        return (await _offer(rt, conn, member_id, basket, points))[1]


async def hold_for_checkout(
    rt: Runtime,
    actor: Actor,
    *,
    member_id: int,
    channel: str,
    order_ref: str,
    basket: Decimal,
    points: int,
    quoted_value: Decimal | None = None,
) -> tuple[CheckoutPayment, bool]:
    """Hold ``points`` toward the basket; returns the payment and whether it was a replay.
    ``quoted_value``: the CNY the member was shown for these points (``checkoutQuote``); a
    value that changed since is refused (QUOTE_CHANGED)."""
    if not order_ref.strip() or len(order_ref) > 128:
        raise invalid("orderRef must be 1..128 characters", "orderRef")
    check_basket(basket)
    async with unit_of_work(rt.engine) as conn:
        await lock_account(conn, member_id)
        existing = (
            await conn.execute(
                select(checkout_payments).where(
                    checkout_payments.c.channel == channel,
                    checkout_payments.c.order_ref == order_ref,
                )
            )
        ).first()
        if existing is not None:
            same = (existing.member_id, existing.points, Decimal(existing.basket_amount)) == (
                member_id,
                points,
                basket,
            )
            if not same:
                raise reused(
                    f"order {order_ref} already has a different points payment", "orderRef"
                )
            return _payment(existing), True
        ledger = _ledger(rt, conn)
        policy, offer = await _offer(rt, conn, member_id, basket, points)
        check_checkout_points(policy, offer.quote, points)
        check_quoted(quoted_value, offer.value, "quotedValue")
        hold = await ledger.hold(
            PlaceHold(
                member_id=member_id,
                amount=points,
                reason=f"points at checkout ({channel})",
                reference=f"checkout:{channel}:{order_ref}"[:128],
            ),
            actor,
        )
        row = (
            await conn.execute(
                insert_claimed(
                    checkout_payments,
                    {
                        "member_id": member_id,
                        "channel": channel,
                        "order_ref": order_ref,
                        "basket_amount": basket,
                        "points": points,
                        "cash_value": offer.value,
                        "hold_id": hold.id,
                        "status": "held",
                        "created_at": rt.clock.now(),
                    },
                    Kind.CHECKOUT,
                ).returning(*checkout_payments.c)
            )
        ).first()
        if row is None:  # the order paid meanwhile for another member (the hold rolls back)
            raise reused(f"order {order_ref} already has a different points payment", "orderRef")
        payment = _payment(row)
        await _event(conn, payment, "checkout.held")
        return payment, False


async def settle_checkout(
    rt: Runtime, actor: Actor, payment_id: int, *, commit: bool
) -> CheckoutPayment:
    """Commit (the payment went through) or void (it did not) the payment's hold. Settling the
    same way again returns the payment; the other way is refused."""
    wanted = "committed" if commit else "voided"
    async with unit_of_work(rt.engine) as conn:
        payment = await _get(conn, payment_id)
        await lock_account(conn, payment.member_id)
        payment = await _get(conn, payment_id)
        if payment.status == wanted:
            return payment
        if payment.status != "held":
            raise DomainError(
                ErrorCode.INVALID_STATE, f"payment {payment_id} is already {payment.status}"
            )
        ledger = _ledger(rt, conn)
        entry_id = None
        if commit:
            entry_id = (await ledger.commit_hold(CommitHold(hold_id=payment.hold_id), actor)).id
        else:
            await ledger.void_hold(
                VoidHold(hold_id=payment.hold_id, reason="checkout cancelled"), actor
            )
        await conn.execute(
            checkout_payments.update()
            .where(checkout_payments.c.id == payment_id)
            .values(status=wanted, entry_id=entry_id, settled_at=rt.clock.now())
        )
        settled = await _get(conn, payment_id)
        await _event(conn, settled, f"checkout.{wanted}")
        return settled


async def get_payment(rt: Runtime, payment_id: int) -> CheckoutPayment:
    async with rt.read() as conn:
        return await _get(conn, payment_id)


async def _get(conn: Any, payment_id: int) -> CheckoutPayment:
    row = (
        await conn.execute(select(checkout_payments).where(checkout_payments.c.id == payment_id))
    ).first()
    if row is None:
        raise not_found("checkout payment", payment_id, "paymentId")
    return _payment(row)


async def _event(conn: Any, payment: CheckoutPayment, event_type: str) -> None:
    await append_event(
        conn,
        member_topic(payment.member_id),
        event_type,
        {
            "member_id": payment.member_id,
            "payment_id": payment.id,
            "channel": payment.channel,
            "order_ref": payment.order_ref,
            "points": payment.points,
            "status": payment.status,
        },
    )
