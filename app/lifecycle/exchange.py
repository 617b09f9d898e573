"""Partner exchange (积分联盟): points converted in from, or out to, a coalition partner.

A partner is a staff-managed definition with its own programme account (``partner:<code>``):
``rate_in`` = our points for one partner point, ``rate_out`` = partner points for one of ours,
limits per exchange (in our points) and per member per day and direction. Conversions round down
(never invent a fraction of a point); one that would give nothing is refused.

Exchanges are idempotent on the partner's own reference: the same (partner, reference) with the
same request returns the first exchange (``replayed``), with a different request it is refused
(``IDEMPOTENCY_KEY_REUSED``). The key is claimed in the same transaction as the ledger write, so
two concurrent deliveries of one reference credit once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.clock import business_date
from app.db import unit_of_work
from app.errors import DomainError, ErrorCode, invalid, not_found
from app.ledger.accounts import ensure_programme_account
from app.ledger.commands import ExchangeIn, ExchangeOut
from app.ledger.idempotency import fingerprint, idempotent, reused
from app.ledger.models import Actor, Entry
from app.ledger.service import Ledger, LedgerPolicy
from app.lifecycle.tables import exchange_partners, exchanges
from app.members.claims import Kind, insert_claimed
from app.runtime import Runtime

CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,63}$")
MAX_RATE = Decimal("10000")
MAX_REF = 128


class Direction(StrEnum):
    IN = "in"  # partner points → our points
    OUT = "out"  # our points → partner points


@dataclass(frozen=True)
class PartnerTerms:
    code: str
    name: str
    rate_in: Decimal
    rate_out: Decimal
    min_points: int
    max_points: int
    daily_limit: int
    enabled: bool = True


@dataclass(frozen=True)
class Partner(PartnerTerms):
    id: int = 0
    updated_at: datetime | None = None
    updated_by: str = ""


@dataclass(frozen=True)
class Exchange:
    id: int
    partner_code: str
    partner_ref: str
    direction: Direction
    member_id: int
    partner_points: int
    points: int  # ours
    rate: Decimal
    entry_id: int
    created_at: datetime
    replayed: bool = False


# ------------------------------------------------------------------------ pure rules


def check_terms(terms: PartnerTerms) -> PartnerTerms:
    if not CODE.match(terms.code):
        raise invalid("code: 2..64 lowercase letters, digits, - or _", "code")
    if not terms.name.strip() or len(terms.name) > 200:
        raise invalid("name must be 1..200 characters", "name")
    for field, rate in (("rateIn", terms.rate_in), ("rateOut", terms.rate_out)):
        if not Decimal(0) < rate <= MAX_RATE:
            raise invalid(f"{field} must be above 0 and at most {MAX_RATE}", field)
    if not 0 < terms.min_points <= terms.max_points:
        raise invalid("limits need 0 < minPoints <= maxPoints", "minPoints")
    if terms.daily_limit < terms.max_points:
        raise invalid("dailyLimit must be at least maxPoints", "dailyLimit")
    return replace(terms, name=terms.name.strip())


def convert(amount: int, rate: Decimal) -> int:
    """``amount`` times ``rate``, rounded down to whole points."""
    try:
        return int((Decimal(amount) * rate).to_integral_value(rounding=ROUND_FLOOR))
    except InvalidOperation:
        raise invalid("amount is out of range", "amount") from None


def ours(direction: Direction, amount: int, partner: Partner) -> tuple[int, int, Decimal]:
    """(partner points, our points, rate) for an exchange of ``amount`` — partner points coming
    in, or our points going out — checked against the partner's per-exchange limits."""
    if amount <= 0:
        raise invalid("amount must be a positive whole number of points", "amount")
    if direction is Direction.IN:
        partner_points, points, rate = amount, convert(amount, partner.rate_in), partner.rate_in
    else:
        partner_points, points, rate = convert(amount, partner.rate_out), amount, partner.rate_out
    if points <= 0 or partner_points <= 0:
        raise invalid("too few points to convert at this rate", "amount")
    if not partner.min_points <= points <= partner.max_points:
        raise DomainError(
            ErrorCode.LIMIT_REACHED,
            f"an exchange with {partner.code} is {partner.min_points}..{partner.max_points} "
            f"points (this one is {points})",
            "amount",
        )
    return partner_points, points, rate


# ------------------------------------------------------------------------ partners


def plain(rate: Decimal) -> Decimal:
    """A stored rate without its padding zeros (0.500000 → 0.5, 2.000000 → 2)."""
    return rate.quantize(Decimal(1)) if rate == rate.to_integral_value() else rate.normalize()


def _partner(row: Any) -> Partner:
    return Partner(
        code=row.code,
        name=row.name,
        rate_in=plain(row.rate_in),
        rate_out=plain(row.rate_out),
        min_points=row.min_points,
        max_points=row.max_points,
        daily_limit=row.daily_limit,
        enabled=row.enabled,
        id=row.id,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def partner_account_code(code: str) -> str:
    return f"partner:{code}"


async def save_partner(rt: Runtime, actor: Actor, terms: PartnerTerms) -> Partner:
    """Create or change a partner (by code); its programme account is created with it."""
    terms = check_terms(terms)
    now = rt.clock.now()
    async with unit_of_work(rt.engine) as conn:
        account_id = await ensure_programme_account(
            conn, "partner", partner_account_code(terms.code)
        )
        values = {
            "name": terms.name,
            "rate_in": terms.rate_in,
            "rate_out": terms.rate_out,
            "min_points": terms.min_points,
            "max_points": terms.max_points,
            "daily_limit": terms.daily_limit,
            "enabled": terms.enabled,
            "updated_at": now,
            "updated_by": actor.principal,
        }
        row = (
            await conn.execute(
                insert(exchange_partners)
                .values(code=terms.code, account_id=account_id, created_at=now, **values)
                .on_conflict_do_update(index_elements=["code"], set_=values)
                .returning(*exchange_partners.c)
            )
        ).one()
        return _partner(row)


async def _find_partner(conn: AsyncConnection, code: str) -> Partner:
    row = (
        await conn.execute(select(exchange_partners).where(exchange_partners.c.code == code))
    ).first()
    if row is None:
        raise not_found("exchange partner", code, "partnerCode")
    return _partner(row)


async def list_partners(rt: Runtime) -> list[Partner]:
    async with rt.read() as conn:
        rows = await conn.execute(select(exchange_partners).order_by(exchange_partners.c.code))
        return [_partner(row) for row in rows]


# ------------------------------------------------------------------------ exchanges


def _exchange(row: Any, partner_code: str) -> Exchange:
    return Exchange(
        id=row.id,
        partner_code=partner_code,
        partner_ref=row.partner_ref,
        direction=Direction(row.direction),
        member_id=row.member_id,
        partner_points=row.partner_points,
        points=row.points,
        rate=plain(row.rate),
        entry_id=row.entry_id,
        created_at=row.created_at,
    )


async def _exchanged_today(
    conn: AsyncConnection, partner: Partner, member_id: int, direction: Direction, day: date
) -> int:
    total = await conn.scalar(
        select(func.coalesce(func.sum(exchanges.c.points), 0)).where(
            exchanges.c.member_id == member_id,
            exchanges.c.business_day == day,
            exchanges.c.partner_id == partner.id,
            exchanges.c.direction == direction.value,
        )
    )
    return int(total or 0)


async def _run_exchange(
    conn: AsyncConnection,
    rt: Runtime,
    actor: Actor,
    partner: Partner,
    direction: Direction,
    member_id: int,
    partner_ref: str,
    amount: int,
    fingerprint: str,
) -> Exchange:
    # Checked here, not before the key: a replay of an earlier exchange still gets its answer.
    if not partner.enabled:
        raise invalid(f"exchanges with {partner.code} are switched off", "partnerCode")
    partner_points, points, rate = ours(direction, amount, partner)
    ledger = Ledger(conn, rt.clock, LedgerPolicy.from_settings(rt.settings))
    account = partner_account_code(partner.code)
    reference = f"{partner.code}:{partner_ref}"[:MAX_REF]
    entry: Entry
    if direction is Direction.IN:
        entry = await ledger.exchange_in(
            ExchangeIn(
                member_id=member_id,
                amount=points,
                partner_account=account,
                reason=f"{partner_points} {partner.name} points exchanged in",
                reference=reference,
                details={"partner": partner.code, "partner_points": partner_points},
            ),
            actor,
        )
    else:
        entry = await ledger.exchange_out(
            ExchangeOut(
                member_id=member_id,
                amount=points,
                partner_account=account,
                reason=f"exchanged out for {partner_points} {partner.name} points",
                reference=reference,
            ),
            actor,
        )
    # Under the member's lock (the ledger took it): the day's total is exact.
    now = rt.clock.now()
    day = business_date(now, rt.settings.timezone)
    already = await _exchanged_today(conn, partner, member_id, direction, day)
    if already + points > partner.daily_limit:
        raise DomainError(
            ErrorCode.LIMIT_REACHED,
            f"exchanges {direction.value} with {partner.code} are limited to "
            f"{partner.daily_limit} points a day; {already} already today",
            "amount",
        )
    row = (
        await conn.execute(
            insert_claimed(
                exchanges,
                {
                    "partner_id": partner.id,
                    "partner_ref": partner_ref,
                    "direction": direction.value,
                    "member_id": member_id,
                    "partner_points": partner_points,
                    "points": points,
                    "rate": rate,
                    "fingerprint": fingerprint,
                    "entry_id": entry.id,
                    "business_day": day,
                    "created_at": now,
                },
                Kind.EXCHANGE,
            ).returning(*exchanges.c)
        )
    ).first()
    if row is None:  # the reference used meanwhile for another member (the entry rolls back)
        raise reused(f"{partner.code} reference {partner_ref} was used before", "partnerRef")
    return _exchange(row, partner.code)


async def exchange_points(
    rt: Runtime,
    actor: Actor,
    *,
    partner_code: str,
    partner_ref: str,
    direction: Direction,
    member_id: int,
    amount: int,
) -> Exchange:
    """Convert points with a partner, at most once per (partner, partner reference).

    ``amount`` is what is given up: partner points coming in, or our points going out."""
    if not partner_ref.strip() or len(partner_ref) > MAX_REF:
        raise invalid(f"partnerRef must be 1..{MAX_REF} characters", "partnerRef")
    request = {"direction": direction.value, "member_id": member_id, "amount": amount}
    print_ = fingerprint(["exchange", request])  # what the key row stores
    async with unit_of_work(rt.engine) as conn:
        partner = await _find_partner(conn, partner_code)

        async def load(stored: dict[str, Any]) -> Exchange:
            row = (
                await conn.execute(
                    select(exchanges).where(exchanges.c.id == int(stored["exchange_id"]))
                )
            ).one()
            return replace(_exchange(row, partner.code), replayed=True)

        return await idempotent(
            conn,
            now=rt.clock.now(),
            caller=f"exchange:{partner.code}",  # the partner's reference space, whoever calls
            key=partner_ref,
            operation="exchange",
            request=request,
            run=lambda: _run_exchange(
                conn, rt, actor, partner, direction, member_id, partner_ref, amount, print_
            ),
            dump=lambda done: {"exchange_id": done.id},
            load=load,
        )
