"""Gifting points between members (转赠): limits, idempotency, the gift record.

A gift is one unit of work: the ledger locks both members (in id order), settles them, moves the
points lot by lot (the recipient's lots keep their source lots' expiry) and writes both entries
and events; this module adds the limits and the ``gifts`` row. Limits (``JIFEN_GIFT_MAX_POINTS``
per gift, ``JIFEN_GIFT_DAILY_LIMIT`` per sender per business day) are checked under the sender's
lock, so concurrent gifts cannot together pass the daily limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.clock import business_date
from app.db import unit_of_work
from app.errors import DomainError, ErrorCode, invalid, not_found
from app.ledger.commands import SendGift
from app.ledger.idempotency import idempotent
from app.ledger.models import Actor, Entry
from app.ledger.service import Ledger, LedgerPolicy
from app.lifecycle.tables import gifts
from app.members.models import MemberStatus
from app.members.tables import members
from app.runtime import Runtime

MAX_MESSAGE = 200


@dataclass(frozen=True)
class Gift:
    id: int
    from_member_id: int
    to_member_id: int
    amount: int
    message: str | None
    sent_entry_id: int
    received_entry_id: int
    business_day: date
    created_at: datetime


def _gift(row: Any) -> Gift:
    return Gift(
        row.id,
        row.from_member_id,
        row.to_member_id,
        row.amount,
        row.message,
        row.sent_entry_id,
        row.received_entry_id,
        row.business_day,
        row.created_at,
    )


def check_gift(sender: int, recipient: int, amount: int, message: str | None, limit: int) -> None:
    """Refusals that need no database: to oneself, not a positive amount, over the per-gift
    limit, a message too long."""
    if sender == recipient:
        raise invalid("a member cannot gift points to itself", "toMemberId")
    if amount <= 0:
        raise invalid("amount must be a positive whole number of points", "amount")
    if amount > limit:
        raise DomainError(
            ErrorCode.LIMIT_REACHED, f"one gift may move at most {limit} points", "amount"
        )
    if message is not None and len(message) > MAX_MESSAGE:
        raise invalid(f"message is at most {MAX_MESSAGE} characters", "message")


async def _require_member(conn: AsyncConnection, member_id: int, field: str) -> MemberStatus:
    status = await conn.scalar(select(members.c.status).where(members.c.id == member_id))
    if status is None:
        raise not_found("member", member_id, field)
    return MemberStatus(status)


async def _sent_today(conn: AsyncConnection, sender: int, day: date) -> int:
    total = await conn.scalar(
        select(func.coalesce(func.sum(gifts.c.amount), 0)).where(
            gifts.c.from_member_id == sender, gifts.c.business_day == day
        )
    )
    return int(total or 0)


async def _give(
    conn: AsyncConnection,
    rt: Runtime,
    actor: Actor,
    sender: int,
    recipient: int,
    amount: int,
    message: str | None,
) -> Gift:
    await _require_member(conn, sender, "fromMemberId")
    await _require_member(conn, recipient, "toMemberId")
    ledger = Ledger(conn, rt.clock, LedgerPolicy.from_settings(rt.settings))
    reason = f"gift to member {recipient}" + (f": {message}" if message else "")
    sent, received = await ledger.gift(
        SendGift(sender_id=sender, recipient_id=recipient, amount=amount, reason=reason), actor
    )
    # Under the sender's lock (taken by the ledger): the day's total is exact.
    now = rt.clock.now()
    day = business_date(now, rt.settings.timezone)
    already = await _sent_today(conn, sender, day)
    limit = rt.settings.gift_daily_limit
    if already + amount > limit:
        raise DomainError(
            ErrorCode.LIMIT_REACHED,
            f"gifts are limited to {limit} points a day; {already} already given today",
            "amount",
        )
    return await _record(conn, sender, recipient, amount, message, sent, received, day, now)


async def _record(
    conn: AsyncConnection,
    sender: int,
    recipient: int,
    amount: int,
    message: str | None,
    sent: Entry,
    received: Entry,
    day: date,
    now: datetime,
) -> Gift:
    row = (
        await conn.execute(
            gifts.insert()
            .values(
                from_member_id=sender,
                to_member_id=recipient,
                amount=amount,
                message=message,
                sent_entry_id=sent.id,
                received_entry_id=received.id,
                business_day=day,
                created_at=now,
            )
            .returning(*gifts.c)
        )
    ).one()
    return _gift(row)


async def gift_points(
    rt: Runtime,
    actor: Actor,
    *,
    from_member_id: int,
    to_member_id: int,
    amount: int,
    idempotency_key: str,
    message: str | None = None,
) -> Gift:
    """Give points to another member, at most once per (caller, idempotency key)."""
    check_gift(from_member_id, to_member_id, amount, message, rt.settings.gift_max_points)
    request = {"from": from_member_id, "to": to_member_id, "amount": amount, "message": message}
    async with unit_of_work(rt.engine) as conn:

        async def load(stored: dict[str, Any]) -> Gift:
            row = (
                await conn.execute(select(gifts).where(gifts.c.id == int(stored["gift_id"])))
            ).one()
            return _gift(row)

        return await idempotent(
            conn,
            now=rt.clock.now(),
            caller=actor.principal,
            key=idempotency_key,
            operation="gift",
            request=request,
            run=lambda: _give(conn, rt, actor, from_member_id, to_member_id, amount, message),
            dump=lambda gift: {"gift_id": gift.id},
            load=load,
        )


async def gifts_of(rt: Runtime, member_id: int, *, limit: int = 50) -> list[Gift]:
    """Gifts a member gave or received, newest first."""
    async with rt.read(member_id) as conn:
        rows = await conn.execute(
            select(gifts)
            .where((gifts.c.from_member_id == member_id) | (gifts.c.to_member_id == member_id))
            .order_by(gifts.c.id.desc())
            .limit(limit)
        )
        return [_gift(row) for row in rows]
