"""Lotteries, blind boxes and prize wheels: a pool of weighted prizes with stock.

A draw costs points (a ledger spend) or a free-draw ticket another domain granted (the day-7
sign-in reward, say). The prize is picked with ``secrets.randbelow`` over the published weights;
when the picked prize is out of stock the pool's fallback prize is given instead. Every draw is
recorded with its roll, the total weight and the weights as they were, so anyone can re-check
that the roll picked the recorded prize.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, bindparam, func, literal, select, text, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import unit_of_work
from app.errors import DomainError, ErrorCode, invalid, not_found
from app.events.outbox import append_event, event_for_each, member_topic
from app.ledger.accounts import lock_account
from app.ledger.commands import Earn, Spend
from app.ledger.idempotency import idempotent, reused
from app.ledger.models import Actor
from app.ledger.service import Ledger, LedgerPolicy
from app.mall.policy import Prize, pick, total_weight
from app.mall.tables import lottery_draws, lottery_pools, lottery_prizes, lottery_tickets
from app.members.claims import Kind, claiming
from app.runtime import Runtime

MAX_PRIZES = 50


class PoolKind(StrEnum):
    LOTTERY = "lottery"
    BLIND_BOX = "blind_box"
    WHEEL = "wheel"


class PrizeKind(StrEnum):
    POINTS = "points"
    COUPON = "coupon"
    GOODS = "goods"
    NOTHING = "nothing"


@dataclass(frozen=True)
class PrizeSpec:
    code: str
    name: str
    kind: PrizeKind
    weight: int
    points: int = 0
    stock: int | None = None


@dataclass(frozen=True)
class PoolSpec:
    code: str
    name: str
    kind: PoolKind
    cost_points: int
    prizes: tuple[PrizeSpec, ...]
    fallback_prize_code: str | None = None

    def check(self) -> None:
        if not self.code.strip() or len(self.code) > 64:
            raise invalid("code must be 1..64 characters", "code")
        if not 0 <= self.cost_points <= 10_000_000:
            raise invalid("costPoints must be 0..10,000,000", "costPoints")
        if not 1 <= len(self.prizes) <= MAX_PRIZES:
            raise invalid(f"a pool has 1..{MAX_PRIZES} prizes", "prizes")
        codes = [p.code for p in self.prizes]
        if len(set(codes)) != len(codes):
            raise invalid("prize codes must be distinct", "prizes")
        for p in self.prizes:
            if p.weight < 0 or (p.stock is not None and p.stock < 0):
                raise invalid(f"prize {p.code}: weight and stock must not be negative", "prizes")
            if (p.kind is PrizeKind.POINTS) != (p.points > 0):
                raise invalid(f"prize {p.code}: only points prizes give points", "prizes")
        if sum(p.weight for p in self.prizes) <= 0:
            raise invalid("the prizes' weights must add up to more than zero", "prizes")
        if self.fallback_prize_code is not None and self.fallback_prize_code not in codes:
            raise invalid("the fallback must be one of the pool's prizes", "fallbackPrizeCode")


@dataclass(frozen=True)
class Pool:
    id: int
    code: str
    name: str
    kind: PoolKind
    cost_points: int
    fallback_prize_code: str | None
    active: bool
    prizes: tuple[Prize, ...]

    @property
    def fallback(self) -> Prize | None:
        return next((p for p in self.prizes if p.code == self.fallback_prize_code), None)


@dataclass(frozen=True)
class DrawTicket:
    id: int
    member_id: int
    pool_code: str
    source_ref: str
    status: str
    granted_at: datetime
    used_at: datetime | None
    created: bool = False


@dataclass(frozen=True)
class Draw:
    id: int
    pool_code: str
    member_id: int
    drawn: Prize
    prize: Prize
    fell_back: bool
    roll: int
    total_weight: int
    odds: dict[str, int]
    cost_points: int
    ticket_id: int | None
    spend_entry_id: int | None
    prize_entry_id: int | None
    coupon_code: str | None
    created_at: datetime


def _prize(row: Row[Any]) -> Prize:
    return Prize(row.id, row.code, row.name, row.kind, row.weight, row.points, row.stock_left)


async def _pool(conn: AsyncConnection, code: str) -> Pool:
    row = (await conn.execute(select(lottery_pools).where(lottery_pools.c.code == code))).first()
    if row is None:
        raise not_found("lottery pool", code, "poolCode")
    prizes = await conn.execute(
        select(lottery_prizes)
        .where(lottery_prizes.c.pool_id == row.id)
        .order_by(lottery_prizes.c.position)
    )
    return Pool(
        row.id,
        row.code,
        row.name,
        PoolKind(row.kind),
        row.cost_points,
        row.fallback_prize_code,
        row.active,
        tuple(_prize(p) for p in prizes),
    )


def _ticket(row: Row[Any], pool_code: str, created: bool = False) -> DrawTicket:
    return DrawTicket(
        row.id,
        row.member_id,
        pool_code,
        row.source_ref,
        row.status,
        row.granted_at,
        row.used_at,
        created,
    )


async def grant_draw_ticket(
    conn: AsyncConnection,
    member_id: int,
    pool_code: str,
    source_ref: str,
    *,
    at: datetime | None = None,
) -> DrawTicket:
    """Grant one free draw in ``pool_code``, inside the caller's transaction.

    Idempotent on ``source_ref`` (e.g. ``signin:day7:<member>:<date>``): granting again returns
    the first ticket (``created`` False); the same ref for another member or pool is refused.
    The pool's id, the ticket and its event are one statement (:func:`_granting`): a task's or
    a sign-in day's draw, paid inside a purchase or a check-in, costs one round trip.
    """
    if not source_ref.strip() or len(source_ref) > 128:
        raise invalid("sourceRef must be 1..128 characters", "sourceRef")
    params = {"member_id": member_id, "pool": pool_code, "source_ref": source_ref, "at": at}
    row = (await conn.execute(_granting(member_topic(member_id)), params)).first()
    if row is None:
        raise not_found("lottery pool", pool_code, "poolCode")
    if row.id is not None:
        return _ticket(row, pool_code, created=True)
    existing = (
        await conn.execute(
            select(lottery_tickets).where(lottery_tickets.c.source_ref == source_ref)
        )
    ).one()
    if existing.member_id != member_id or existing.pool_id != row.pool_found:
        raise reused(f"ticket {source_ref} was granted to another member or pool", "sourceRef")
    return _ticket(existing, pool_code)


def _granting(topic: str) -> Any:
    """The pool's id (``pool_found``; no row: no such pool), the ticket unless its
    ``source_ref`` was granted before (then its columns are NULL) and, with a new ticket, its
    ``lottery.ticket_granted`` event on the member's ``topic``: one statement."""
    pool = (
        select(lottery_pools.c.id)
        .where(lottery_pools.c.code == bindparam("pool", type_=lottery_pools.c.code.type))
        .cte("pool")
    )
    at = bindparam("at", type_=lottery_tickets.c.granted_at.type)
    member = bindparam("member_id", type_=lottery_tickets.c.member_id.type)
    source_ref = bindparam("source_ref", type_=lottery_tickets.c.source_ref.type)
    # The ref is claimed across members (app/members/claims.py): claimed before, by anyone,
    # no ticket is written (a concurrent grant waits for the first to end).
    claimed = claiming(Kind.TICKET, "", source_ref, member, only_with=pool).cte("claimed")
    opened = literal("open", lottery_tickets.c.status.type)
    ticket = (
        select(member, pool.c.id, source_ref, opened, func.coalesce(at, func.now()))
        .select_from(pool)
        .where(select(claimed).exists())
    )
    granted = (
        insert(lottery_tickets)
        .from_select(["member_id", "pool_id", "source_ref", "status", "granted_at"], ticket)
        .returning(*lottery_tickets.c)
        .cte("granted")
    )
    payload = func.jsonb_build_object(
        "member_id",
        granted.c.member_id,
        "ticket_id",
        granted.c.id,
        "pool",
        bindparam("pool", type_=lottery_pools.c.code.type),
        "source_ref",
        granted.c.source_ref,
    )
    announced = event_for_each(granted, topic, "lottery.ticket_granted", payload).cte("announced")
    return (
        select(pool.c.id.label("pool_found"), *granted.c)
        .select_from(pool.outerjoin(granted, true()))
        .add_cte(announced)
    )


class Lottery:
    def __init__(self, conn: AsyncConnection, rt: Runtime) -> None:
        self.conn = conn
        self.rt = rt
        self.ledger = Ledger(conn, rt.clock, LedgerPolicy.from_settings(rt.settings))

    async def create_pool(self, spec: PoolSpec) -> Pool:
        spec.check()
        pool_id = await self.conn.scalar(
            insert(lottery_pools)
            .values(
                code=spec.code,
                name=spec.name,
                kind=spec.kind.value,
                cost_points=spec.cost_points,
                fallback_prize_code=spec.fallback_prize_code,
                created_at=self.rt.clock.now(),
            )
            .on_conflict_do_nothing(index_elements=["code"])
            .returning(lottery_pools.c.id)
        )
        if pool_id is None:
            raise DomainError(ErrorCode.ALREADY_EXISTS, f"pool {spec.code} exists", "code")
        await self.conn.execute(
            lottery_prizes.insert(),
            [
                {
                    "pool_id": pool_id,
                    "code": p.code,
                    "name": p.name,
                    "kind": p.kind.value,
                    "weight": p.weight,
                    "points": p.points,
                    "stock_total": p.stock,
                    "stock_left": p.stock,
                    "position": i,
                }
                for i, p in enumerate(spec.prizes)
            ],
        )
        return await _pool(self.conn, spec.code)

    async def draw(self, actor: Actor, member_id: int, pool_code: str, use_ticket: bool) -> Draw:
        await lock_account(self.conn, member_id)
        pool = await _pool(self.conn, pool_code)
        if not pool.active:
            raise DomainError(ErrorCode.NOT_ON_SALE, f"pool {pool_code} is closed", "poolCode")
        draw_id = int(
            await self.conn.scalar(
                text("SELECT nextval(pg_get_serial_sequence('lottery_draws', 'id'))")
            )
        )
        ticket_id, spend_entry_id, cost = None, None, 0
        if use_ticket:
            ticket_id = await self._use_ticket(member_id, pool, draw_id)
        elif pool.cost_points:
            cost = pool.cost_points
            spend = await self.ledger.spend(
                Spend(
                    member_id=member_id,
                    amount=cost,
                    reason=f"lottery: {pool.name}",
                    reference=f"lottery-draw:{draw_id}",
                ),
                actor,
            )
            spend_entry_id = spend.id
        whole = total_weight(pool.prizes)
        roll = secrets.randbelow(whole)
        drawn = pick(pool.prizes, roll)
        prize = await self._take_prize(drawn, pool.fallback)
        prize_entry_id, coupon = await self._give(actor, member_id, pool, prize, draw_id)
        now = self.rt.clock.now()
        odds = {p.code: p.weight for p in pool.prizes}
        await self.conn.execute(
            lottery_draws.insert().values(
                id=draw_id,
                pool_id=pool.id,
                member_id=member_id,
                drawn_prize_id=drawn.id,
                prize_id=prize.id,
                fell_back=prize.id != drawn.id,
                roll=roll,
                total_weight=whole,
                odds=odds,
                cost_points=cost,
                ticket_id=ticket_id,
                spend_entry_id=spend_entry_id,
                prize_entry_id=prize_entry_id,
                coupon_code=coupon,
                created_at=now,
            )
        )
        draw = Draw(
            draw_id,
            pool.code,
            member_id,
            drawn,
            prize,
            prize.id != drawn.id,
            roll,
            whole,
            odds,
            cost,
            ticket_id,
            spend_entry_id,
            prize_entry_id,
            coupon,
            now,
        )
        await append_event(
            self.conn,
            member_topic(member_id),
            "lottery.drawn",
            {
                "member_id": member_id,
                "draw_id": draw_id,
                "pool": pool.code,
                "prize": prize.code,
                "fell_back": draw.fell_back,
            },
        )
        return draw

    async def _use_ticket(self, member_id: int, pool: Pool, draw_id: int) -> int:
        ticket_id = await self.conn.scalar(
            select(lottery_tickets.c.id)
            .where(
                lottery_tickets.c.member_id == member_id,
                lottery_tickets.c.pool_id == pool.id,
                lottery_tickets.c.status == "open",
            )
            .order_by(lottery_tickets.c.id)
            .limit(1)
        )
        if ticket_id is None:
            raise DomainError(
                ErrorCode.NOT_FOUND, f"no free-draw ticket for {pool.code}", "useTicket"
            )
        await self.conn.execute(
            lottery_tickets.update()
            .where(lottery_tickets.c.id == ticket_id)
            .values(status="used", used_at=self.rt.clock.now(), draw_id=draw_id)
        )
        return int(ticket_id)

    async def _take_prize(self, drawn: Prize, fallback: Prize | None) -> Prize:
        """The drawn prize if a unit is left (taken atomically), else the fallback's."""
        for candidate in (drawn, fallback):
            if candidate is None:
                continue
            if candidate.stock_left is None:
                return candidate
            taken = await self.conn.scalar(
                lottery_prizes.update()
                .where(lottery_prizes.c.id == candidate.id, lottery_prizes.c.stock_left > 0)
                .values(stock_left=lottery_prizes.c.stock_left - 1)
                .returning(lottery_prizes.c.stock_left)
            )
            if taken is not None:
                return candidate
        raise DomainError(
            ErrorCode.OUT_OF_STOCK, "the drawn prize is out of stock and no fallback is left"
        )

    async def _give(
        self, actor: Actor, member_id: int, pool: Pool, prize: Prize, draw_id: int
    ) -> tuple[int | None, str | None]:
        if prize.kind == PrizeKind.POINTS.value:
            entry = await self.ledger.earn(
                Earn(
                    member_id=member_id,
                    amount=prize.points,
                    reason=f"lottery prize: {prize.name}",
                    reference=f"lottery-draw:{draw_id}",
                ),
                actor,
            )
            return entry.id, None
        if prize.kind == PrizeKind.COUPON.value:
            return None, "LT" + secrets.token_hex(7).upper()
        return None, None


def _draw(row: Row[Any], pool: Pool) -> Draw:
    by_id = {p.id: p for p in pool.prizes}
    return Draw(
        row.id,
        pool.code,
        row.member_id,
        by_id[row.drawn_prize_id],
        by_id[row.prize_id],
        row.fell_back,
        row.roll,
        row.total_weight,
        dict(row.odds),
        row.cost_points,
        row.ticket_id,
        row.spend_entry_id,
        row.prize_entry_id,
        row.coupon_code,
        row.created_at,
    )


# ------------------------------------------------------------------------------ use cases


async def create_pool(rt: Runtime, spec: PoolSpec) -> Pool:
    async with unit_of_work(rt.engine) as conn:
        return await Lottery(conn, rt).create_pool(spec)


async def ensure_pool(rt: Runtime, spec: PoolSpec) -> Pool:
    try:
        return await create_pool(rt, spec)
    except DomainError as error:
        if error.code is not ErrorCode.ALREADY_EXISTS:
            raise
        return await get_pool(rt, spec.code)


async def get_pool(rt: Runtime, code: str) -> Pool:
    async with rt.read() as conn:
        return await _pool(conn, code)


async def list_pools(rt: Runtime) -> list[Pool]:
    async with rt.read() as conn:
        codes = await conn.scalars(select(lottery_pools.c.code).order_by(lottery_pools.c.id))
        return [await _pool(conn, code) for code in codes.all()]


async def grant_ticket(rt: Runtime, member_id: int, pool_code: str, source_ref: str) -> DrawTicket:
    async with unit_of_work(rt.engine) as conn:
        return await grant_draw_ticket(conn, member_id, pool_code, source_ref, at=rt.clock.now())


async def draw(
    rt: Runtime,
    actor: Actor,
    *,
    member_id: int,
    pool_code: str,
    use_ticket: bool,
    idempotency_key: str,
) -> Draw:
    request = {"member_id": member_id, "pool": pool_code, "use_ticket": use_ticket}
    async with unit_of_work(rt.engine) as conn:
        lottery = Lottery(conn, rt)

        async def load(stored: dict[str, Any]) -> Draw:
            return await get_draw_in(conn, int(stored["draw_id"]))

        return await idempotent(
            conn,
            now=rt.clock.now(),
            caller=actor.principal,
            key=idempotency_key,
            operation="mall.draw",
            request=request,
            run=lambda: lottery.draw(actor, member_id, pool_code, use_ticket),
            dump=lambda d: {"draw_id": d.id},
            load=load,
        )


async def get_draw_in(conn: AsyncConnection, draw_id: int) -> Draw:
    row = (await conn.execute(select(lottery_draws).where(lottery_draws.c.id == draw_id))).first()
    if row is None:
        raise not_found("draw", draw_id, "drawId")
    code = await conn.scalar(select(lottery_pools.c.code).where(lottery_pools.c.id == row.pool_id))
    return _draw(row, await _pool(conn, str(code)))


async def list_draws(
    rt: Runtime, member_id: int, *, first: int, before_id: int | None = None
) -> list[Draw]:
    async with rt.read(member_id) as conn:
        query = select(lottery_draws).where(lottery_draws.c.member_id == member_id)
        if before_id is not None:
            query = query.where(lottery_draws.c.id < before_id)
        rows = (await conn.execute(query.order_by(lottery_draws.c.id.desc()).limit(first))).all()
        pools: dict[int, Pool] = {}
        for row in rows:
            if row.pool_id not in pools:
                code = await conn.scalar(
                    select(lottery_pools.c.code).where(lottery_pools.c.id == row.pool_id)
                )
                pools[row.pool_id] = await _pool(conn, str(code))
        return [_draw(row, pools[row.pool_id]) for row in rows]


async def list_tickets(rt: Runtime, member_id: int, *, open_only: bool) -> list[DrawTicket]:
    async with rt.read(member_id) as conn:
        query = (
            select(lottery_tickets, lottery_pools.c.code.label("pool_code"))
            .join(lottery_pools, lottery_pools.c.id == lottery_tickets.c.pool_id)
            .where(lottery_tickets.c.member_id == member_id)
        )
        if open_only:
            query = query.where(lottery_tickets.c.status == "open")
        rows = await conn.execute(query.order_by(lottery_tickets.c.id.desc()).limit(100))
        return [_ticket(row, row.pool_code) for row in rows]


def probability(prize: Prize, prizes: tuple[Prize, ...]) -> Decimal:
    return Decimal(prize.weight) / Decimal(total_weight(prizes))
