"""Donations: points to a charity's programme account, with a running total per charity.

A charity is a programme account of kind ``charity`` (code ``charity:<code>``); a donation is
a ledger spend whose other side is that account, so the charity's total is its posted balance
and `jifen audit` checks it against the donations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import unit_of_work
from app.errors import DomainError, ErrorCode, invalid, not_found
from app.events.outbox import append_event, member_topic
from app.ledger.accounts import open_programme_account
from app.ledger.commands import Spend
from app.ledger.idempotency import idempotent
from app.ledger.models import Actor
from app.ledger.service import Ledger, LedgerPolicy
from app.mall.tables import charities, donations
from app.runtime import Runtime


@dataclass(frozen=True)
class Charity:
    id: int
    code: str
    name: str
    total_donated: int
    donors: int


@dataclass(frozen=True)
class Donation:
    id: int
    member_id: int
    charity_code: str
    points: int
    entry_id: int
    created_at: datetime


def _totals() -> Any:
    return (
        select(
            donations.c.charity_id,
            func.sum(donations.c.points).label("total"),
            func.count(func.distinct(donations.c.member_id)).label("donors"),
        )
        .group_by(donations.c.charity_id)
        .subquery()
    )


def _charity(row: Row[Any]) -> Charity:
    return Charity(row.id, row.code, row.name, int(row.total or 0), int(row.donors or 0))


async def _charities(conn: AsyncConnection, code: str | None = None) -> list[Charity]:
    totals = _totals()
    query = select(charities, totals.c.total, totals.c.donors).outerjoin(
        totals, totals.c.charity_id == charities.c.id
    )
    if code is not None:
        query = query.where(charities.c.code == code)
    rows = await conn.execute(query.order_by(charities.c.id))
    return [_charity(row) for row in rows]


async def create_charity(rt: Runtime, code: str, name: str) -> Charity:
    if not code.strip() or len(code) > 64 or not name.strip() or len(name) > 200:
        raise invalid("code must be 1..64 characters and name 1..200", "code")
    async with unit_of_work(rt.engine) as conn:
        account_id = await open_programme_account(conn, "charity", f"charity:{code}")
        if account_id is None:
            raise DomainError(ErrorCode.ALREADY_EXISTS, f"charity {code} exists", "code")
        await conn.execute(
            charities.insert().values(
                code=code, name=name, account_id=account_id, created_at=rt.clock.now()
            )
        )
        return (await _charities(conn, code))[0]


async def ensure_charity(rt: Runtime, code: str, name: str) -> Charity:
    try:
        return await create_charity(rt, code, name)
    except DomainError as error:
        if error.code is not ErrorCode.ALREADY_EXISTS:
            raise
        return await get_charity(rt, code)


async def get_charity(rt: Runtime, code: str) -> Charity:
    async with rt.read() as conn:
        found = await _charities(conn, code)
    if not found:
        raise not_found("charity", code, "charityCode")
    return found[0]


async def list_charities(rt: Runtime) -> list[Charity]:
    async with rt.read() as conn:
        return await _charities(conn)


async def donate_in(
    conn: AsyncConnection,
    rt: Runtime,
    actor: Actor,
    member_id: int,
    charity_code: str,
    points: int,
) -> Donation:
    """Spend ``points`` of the member into the charity's account, in the caller's transaction
    (the points bank moves expiring points this way: docs/BANK.md)."""
    charity = await conn.scalar(select(charities.c.id).where(charities.c.code == charity_code))
    if charity is None:
        raise not_found("charity", charity_code, "charityCode")
    ledger = Ledger(conn, rt.clock, LedgerPolicy.from_settings(rt.settings))
    entry = await ledger.spend(
        Spend(
            member_id=member_id,
            amount=points,
            reason=f"donation to {charity_code}",
            reference=f"charity:{charity_code}",
            counter_account=f"charity:{charity_code}",
        ),
        actor,
    )
    row = (
        await conn.execute(
            donations.insert()
            .values(
                member_id=member_id,
                charity_id=charity,
                points=points,
                entry_id=entry.id,
                created_at=rt.clock.now(),
            )
            .returning(donations.c.id, donations.c.created_at)
        )
    ).one()
    donation = Donation(row.id, member_id, charity_code, points, entry.id, row.created_at)
    await append_event(
        conn,
        member_topic(member_id),
        "donation.made",
        {
            "member_id": member_id,
            "charity": charity_code,
            "points": points,
            "donation_id": donation.id,
        },
    )
    return donation


async def donate(
    rt: Runtime,
    actor: Actor,
    *,
    member_id: int,
    charity_code: str,
    points: int,
    idempotency_key: str,
) -> Donation:
    """Spend ``points`` of the member into the charity's account (idempotent per key)."""
    request = {"member_id": member_id, "charity": charity_code, "points": points}
    async with unit_of_work(rt.engine) as conn:

        async def run() -> Donation:
            return await donate_in(conn, rt, actor, member_id, charity_code, points)

        async def load(stored: dict[str, Any]) -> Donation:
            row = (
                await conn.execute(select(donations).where(donations.c.id == stored["donation_id"]))
            ).one()
            return Donation(
                row.id, row.member_id, charity_code, row.points, row.entry_id, row.created_at
            )

        return await idempotent(
            conn,
            now=rt.clock.now(),
            caller=actor.principal,
            key=idempotency_key,
            operation="mall.donate",
            request=request,
            run=run,
            dump=lambda d: {"donation_id": d.id},
            load=load,
        )
