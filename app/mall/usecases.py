"""Redemption use cases: one unit of work each, idempotent placement, the flash-sale gate, and
the time-out job (a plain ``(rt) -> outcome`` function a scheduler can run)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from app.db import unit_of_work
from app.errors import DomainError, ErrorCode
from app.ledger.idempotency import idempotent_replayed, stored_response
from app.ledger.models import Actor
from app.ledger.queries import balance
from app.mall.flash import (
    FlashGate,
    Ticket,
    Verdict,
    arm_once,
    item_cache,
    period_key,
    sold_out,
)
from app.mall.onetrip import place_in_one_trip
from app.mall.policy import Item, OrderStatus, check_on_sale, check_quantity, out_of_stock
from app.mall.redemptions import Order, RedemptionQuote, Redemptions, stock_gone_at_commit
from app.runtime import Runtime

SYSTEM = Actor("system", "jobs")
T = TypeVar("T")


async def _admitted() -> None:
    """A caller with nothing left to check (staff, jobs, tests)."""


@dataclass(frozen=True)
class Placed:
    order: Order
    replayed: bool


async def place_redemption(
    rt: Runtime,
    actor: Actor,
    *,
    member_id: int,
    item_id: int,
    quantity: int,
    idempotency_key: str,
    quoted_points: int | None = None,
    admit: Callable[[], Awaitable[None]] = _admitted,
) -> Placed:
    """Place an order (idempotent per caller and key). Flash items pass the Redis gate first.
    ``quoted_points``: the points the member was shown (``redemptionQuote``); a price that
    changed since is refused (QUOTE_CHANGED). ``admit``: the caller's last checks that need
    the database (a member's standing), run before the order's first read or write of the
    member's — so that a buyer the gate refuses costs no database round trip."""
    check_quantity(quantity)
    item = await item_cache(rt).get(rt, item_id)
    order = _Order(member_id, item, quantity, quoted_points)
    if not item.flash:
        await admit()
        return await _place_in_database(rt, actor, order, idempotency_key)
    check_on_sale(item, rt.clock.now())
    ticket = Ticket(
        item_id,
        member_id,
        quantity,
        item.per_member_limit or 0,
        period_key(item, rt.clock.now(), rt.settings.timezone),
    )
    seen_sold_out = sold_out(rt)
    if seen_sold_out.refuses(item.id, member_id):
        # Sold out a moment ago and this member never passed: refused without a Redis round
        # trip either.
        raise out_of_stock(item.name)
    gate = FlashGate(rt.redis)
    verdict = await gate.take(ticket)
    if verdict is Verdict.NOT_ARMED:
        await arm_once(rt, item)
        verdict = await gate.take(ticket)
    if verdict in (Verdict.OUT_OF_STOCK, Verdict.OUT_OF_STOCK_PASSED):
        await seen_sold_out.note(gate, item.id)
    if verdict is Verdict.OUT_OF_STOCK:
        # The member never passed the gate, so no order of its can exist to replay: refused
        # without a database round trip (the rush's many losers cost Redis only).
        raise out_of_stock(item.name)
    if verdict in (Verdict.OUT_OF_STOCK_PASSED, Verdict.LIMIT_REACHED):
        await admit()
        replay = await _replay(rt, actor, idempotency_key)
        if replay is not None:
            return replay
        raise _refusal(verdict, item, quantity)
    passed = verdict is Verdict.TAKEN
    try:
        await admit()  # a frozen or closed member gives its unit back, as any refusal
        placed = await _place_in_database(rt, actor, order, idempotency_key)
    except BaseException:
        if passed:
            await gate.give_back(ticket)
            seen_sold_out.forget(item.id)
        raise
    if passed and placed.replayed:
        await gate.give_back(ticket)
        seen_sold_out.forget(item.id)
    elif verdict is Verdict.UNAVAILABLE and not placed.replayed:
        await gate.note_passed(ticket)
    return placed


async def quote_redemption(
    rt: Runtime, member_id: int, item_id: int, quantity: int
) -> RedemptionQuote:
    """The points ``quantity`` of the item would cost the member now (no lock, nothing held)."""
    async with rt.read(member_id) as conn:
        await balance(conn, member_id, rt.clock.now())  # NOT_FOUND for an unknown member
        return await Redemptions(conn, rt).quote(member_id, item_id, quantity)


def _refusal(verdict: Verdict, item: Item, quantity: int) -> DomainError:
    if verdict is Verdict.OUT_OF_STOCK_PASSED:
        return out_of_stock(item.name)
    return DomainError(
        ErrorCode.LIMIT_REACHED,
        f"{item.name}: at most {item.per_member_limit} per member",
        "quantity",
    )


@dataclass(frozen=True)
class _Order:
    member_id: int
    item: Item
    quantity: int
    quoted_points: int | None


async def _place_in_database(rt: Runtime, actor: Actor, wanted: _Order, key: str) -> Placed:
    member_id, item_id, quantity = wanted.member_id, wanted.item.id, wanted.quantity
    request: dict[str, object] = {"member_id": member_id, "item_id": item_id, "quantity": quantity}
    if wanted.quoted_points is not None:  # absent from older keys' fingerprints: they replay
        request["quoted_points"] = wanted.quoted_points
    placed = await place_in_one_trip(
        rt, actor, wanted.item, quantity, member_id, key, request, wanted.quoted_points
    )
    if placed is not None:
        return Placed(placed, replayed=False)
    try:
        async with unit_of_work(rt.engine) as conn:
            service = Redemptions(conn, rt)
            order, replayed = await idempotent_replayed(
                conn,
                now=rt.clock.now(),
                caller=actor.principal,
                key=key,
                operation="mall.place",
                request=request,
                run=lambda: service.place(
                    actor, member_id, item_id, quantity, wanted.quoted_points
                ),
                dump=lambda o: {"order_id": o.id},
                load=lambda stored: service.get(int(stored["order_id"])),
            )
    except DBAPIError as error:
        if stock_gone_at_commit(error):  # the COMMIT rolled the whole placement back
            raise out_of_stock(wanted.item.name) from None
        raise
    return Placed(order, replayed=replayed)


async def _replay(rt: Runtime, actor: Actor, key: str) -> Placed | None:
    """A refused flash buyer whose key already placed an order gets that order back."""
    async with rt.engine.connect() as conn:
        stored = await stored_response(
            conn, caller=actor.principal, key=key, operation="mall.place"
        )
        if not stored:
            return None
        return Placed(await Redemptions(conn, rt).get(int(stored["order_id"])), replayed=True)


async def _write(rt: Runtime, step: Callable[[Redemptions], Awaitable[T]]) -> T:
    async with unit_of_work(rt.engine) as conn:
        return await step(Redemptions(conn, rt))


async def confirm_redemption(rt: Runtime, actor: Actor, order_id: int) -> Order:
    return await _write(rt, lambda s: s.confirm(order_id, actor))


async def pay_redemption(
    rt: Runtime, actor: Actor, order_id: int, payment_ref: str, amount: Decimal
) -> Order:
    return await _write(rt, lambda s: s.pay(order_id, payment_ref, amount, actor))


async def fulfil_redemption(
    rt: Runtime, actor: Actor, order_id: int, reference: str | None
) -> Order:
    return await _write(rt, lambda s: s.fulfil(order_id, actor, reference))


async def cancel_redemption(
    rt: Runtime, actor: Actor, order_id: int, reason: str, *, timed_out: bool = False
) -> Order:
    order, item = await _write(rt, lambda s: s.cancel(order_id, actor, reason, timed_out=timed_out))
    await _reopen_gate(rt, order, item)
    return order


async def return_redemption(rt: Runtime, actor: Actor, order_id: int, reason: str) -> Order:
    order, item = await _write(rt, lambda s: s.return_(order_id, actor, reason))
    await _reopen_gate(rt, order, item)
    return order


async def _reopen_gate(rt: Runtime, order: Order, item: Item) -> None:
    """After the database gave a flash unit back, the gate gets it back too."""
    if item.flash:
        period = period_key(item, order.created_at, rt.settings.timezone)
        ticket = Ticket(
            item.id, order.member_id, order.quantity, item.per_member_limit or 0, period
        )
        await FlashGate(rt.redis).give_back(ticket)
        sold_out(rt).forget(item.id)


@dataclass(frozen=True)
class TimeOutOutcome:
    expired: int
    skipped: int


async def expire_redemptions(rt: Runtime, *, limit: int = 500) -> TimeOutOutcome:
    """The time-out job: orders not confirmed in time are closed, each in its own transaction
    (hold voided, stock back). Safe to run concurrently and repeatedly."""
    async with rt.engine.connect() as conn:
        due = await Redemptions(conn, rt).timed_out_ids(limit)
    expired = skipped = 0
    for order_id in due:
        try:
            order = await cancel_redemption(
                rt, SYSTEM, order_id, "not confirmed in time", timed_out=True
            )
        except DomainError:
            skipped += 1  # confirmed or cancelled meanwhile
            continue
        await rt.members_written([order.member_id])
        expired += 1
    return TimeOutOutcome(expired, skipped)


async def get_order(rt: Runtime, order_id: int) -> Order:
    async with rt.read() as conn:
        return await Redemptions(conn, rt).get(order_id)


async def list_orders(
    rt: Runtime,
    member_id: int | None,
    *,
    first: int,
    before_id: int | None = None,
    status: OrderStatus | None = None,
) -> list[Order]:
    async with rt.read(*([] if member_id is None else [member_id])) as conn:
        return await Redemptions(conn, rt).list_for(
            member_id, first=first, before_id=before_id, status=status
        )
