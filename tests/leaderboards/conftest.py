"""Helpers for leaderboard tests: members and earnings through the ledger, or in bulk by SQL."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from uuid import uuid4

from redis.asyncio import Redis
from sqlalchemy import text

from app.leaderboards.boards import (
    ALL_TIME_ID,
    Period,
    PeriodKind,
    board_key,
    decode_element,
    parse_period,
)
from app.ledger import usecases as ledger
from app.ledger.commands import Adjust, Earn, Reverse, Spend
from app.ledger.models import Actor
from app.members import usecases as members
from app.runtime import Runtime

STAFF = Actor("staff:tester", "test", frozenset({"admin"}))
TZ = "Asia/Shanghai"
BOARD = "points-earned"


async def new_member(rt: Runtime, ref: str | None = None) -> int:
    registered = await members.register_member(rt, channel="test", external_ref=ref or uuid4().hex)
    return registered.member.id


async def earn(rt: Runtime, member_id: int, amount: int) -> int:
    entry = await ledger.earn_points(
        rt,
        STAFF,
        Earn(member_id=member_id, amount=amount, reason="test"),
        idempotency_key=uuid4().hex,
    )
    return entry.id


async def reverse(rt: Runtime, entry_id: int, amount: int | None = None) -> int:
    entry = await ledger.reverse_entry(
        rt,
        STAFF,
        Reverse(entry_id=entry_id, amount=amount, reason="refund"),
        idempotency_key=uuid4().hex,
    )
    return entry.id


async def adjust(rt: Runtime, member_id: int, amount: int) -> None:
    await ledger.adjust_points(
        rt,
        STAFF,
        Adjust(member_id=member_id, amount=amount, reason="fix"),
        idempotency_key=uuid4().hex,
    )


async def spend(rt: Runtime, member_id: int, amount: int) -> None:
    await ledger.spend_points(
        rt,
        STAFF,
        Spend(member_id=member_id, amount=amount, reason="buy"),
        idempotency_key=uuid4().hex,
    )


def period(kind: str, ident: str = ALL_TIME_ID) -> Period:
    return parse_period(PeriodKind(kind), ident, TZ)


@dataclass(frozen=True)
class Row:
    member_id: int
    points: int
    reached_at: datetime


async def board_rows(redis: Redis, p: Period, board: str = BOARD) -> list[Row]:
    """The whole board, best first, as Redis ranks it."""
    raw = await redis.zrevrange(board_key(board, p), 0, -1, withscores=True)
    rows = []
    for element, score in cast(list[tuple[bytes, float]], raw):
        member_id, reached_at = decode_element(element)
        rows.append(Row(member_id, int(score), reached_at))
    return rows


async def scores(redis: Redis, p: Period) -> dict[int, int]:
    return {row.member_id: row.points for row in await board_rows(redis, p)}


# An oracle written independently of app.leaderboards.rebuild: the period by formatting the
# business-local time, the "reached at" by a window over each member's scoring entries.
ORACLE = text(
    """
    WITH scoring AS (
        SELECT e.id, e.member_id, e.amount, e.created_at,
               coalesce(o.created_at, e.created_at) AT TIME ZONE :tz AS counted_local
        FROM entries e LEFT JOIN entries o ON o.id = e.reverses_entry_id
        WHERE e.amount <> 0 AND (e.kind = 'earn' OR (e.kind = 'reversal' AND o.kind = 'earn'))
    ),
    in_period AS (
        SELECT member_id, amount,
               first_value(created_at) OVER (
                   PARTITION BY member_id ORDER BY created_at DESC, id DESC
               ) AS reached_at
        FROM scoring
        WHERE CASE CAST(:kind AS text)
            WHEN 'daily' THEN to_char(counted_local, 'YYYY-MM-DD')
            WHEN 'weekly' THEN to_char(counted_local, 'IYYY-"W"IW')
            WHEN 'monthly' THEN to_char(counted_local, 'YYYY-MM')
            ELSE 'all' END = :ident
    )
    SELECT member_id, sum(amount) AS points, min(reached_at) AS reached_at
    FROM in_period GROUP BY member_id HAVING sum(amount) > 0
    ORDER BY points DESC, reached_at, member_id
    """
)


async def oracle_rows(rt: Runtime, p: Period) -> list[Row]:
    async with rt.engine.connect() as conn:
        rows = await conn.execute(ORACLE, {"tz": TZ, "kind": p.kind.value, "ident": p.id})
        return [Row(r.member_id, int(r.points), r.reached_at) for r in rows]


# ------------------------------------------------------------------------------------- bulk

_MEMBERS = text(
    """
    WITH made AS (
        INSERT INTO members (name) SELECT 'bulk ' || g FROM generate_series(1, :n) g
        RETURNING id
    )
    INSERT INTO accounts (kind, code, member_id)
    SELECT 'member', 'member:' || id, id FROM made
    RETURNING member_id
    """
)
_ENTRIES = text(
    """
    INSERT INTO entries (member_id, kind, amount, balance_after, reason, source, actor,
                         created_by_kind, created_at)
    SELECT m, 'earn', a, b, 'bulk earn', 'test', 'staff:tester', 'staff', t
    FROM unnest(CAST(:m AS bigint[]), CAST(:a AS bigint[]), CAST(:b AS bigint[]),
                CAST(:t AS timestamptz[])) WITH ORDINALITY AS x(m, a, b, t, n)
    ORDER BY n
    RETURNING id, member_id, amount, balance_after, created_at
    """
)
_LEDGER_ROWS = text(
    """
    WITH e AS (
        SELECT e.id, e.amount, e.created_at, acc.id AS account_id, e.member_id,
               e.balance_after
        FROM entries e JOIN accounts acc ON acc.member_id = e.member_id
        WHERE e.id = ANY(CAST(:ids AS bigint[]))
    ),
    t AS (
        INSERT INTO transfers (entry_id, member_id, debit_account_id, credit_account_id, amount,
                               created_at)
        SELECT id, member_id, (SELECT id FROM programme_accounts WHERE code = 'issuance'),
               account_id, amount, created_at FROM e
    ),
    l AS (
        INSERT INTO lots (account_id, member_id, entry_id, amount, remaining, pending,
                          available_at, created_at)
        SELECT account_id, member_id, id, amount, amount, false, created_at, created_at FROM e
    ),
    ev AS (
        INSERT INTO events (member_id, topic, type, payload, created_at)
        SELECT member_id, 'member:' || member_id, 'points.earned',
               jsonb_build_object(
                   'member_id', member_id,
                   'entry', jsonb_build_object(
                       'id', id, 'kind', 'earn', 'amount', amount,
                       'balance_after', balance_after, 'created_at', created_at)),
               created_at
        FROM e ORDER BY id
    )
    UPDATE accounts a SET available = a.available + s.total,
                          lifetime_earned = a.lifetime_earned + s.total,
                          version = a.version + 1
    FROM (SELECT account_id, sum(amount) AS total FROM e GROUP BY account_id) s
    WHERE a.id = s.account_id
    """
)


async def bulk_earnings(
    rt: Runtime,
    members_count: int,
    *,
    start: datetime,
    end: datetime,
    seed: int = 7,
    chunk: int = 2_000,
) -> list[int]:
    """``members_count`` members, each with 1-5 earn entries at random instants in
    [start, end) (minute resolution, so equal instants happen), written as the ledger writes
    them: entry, transfer, lot, balance and an outbox event each, in instant order."""
    rng = random.Random(seed)
    async with rt.engine.begin() as conn:
        member_ids = list((await conn.scalars(_MEMBERS, {"n": members_count})).all())
    minutes = int((end - start).total_seconds() // 60)
    planned: list[tuple[datetime, int, int]] = []
    for member_id in member_ids:
        for _ in range(rng.randint(1, 5)):
            at = start + timedelta(minutes=rng.randrange(minutes))
            planned.append((at, member_id, rng.choice((10, 20, 30, 50, 100, 200, 500))))
    planned.sort()
    balance: dict[int, int] = {}
    for offset in range(0, len(planned), chunk):
        part = planned[offset : offset + chunk]
        after = []
        for _, member_id, amount in part:
            balance[member_id] = balance.get(member_id, 0) + amount
            after.append(balance[member_id])
        params: dict[str, Any] = {
            "m": [p[1] for p in part],
            "a": [p[2] for p in part],
            "b": after,
            "t": [p[0] for p in part],
        }
        # One transaction per chunk: the events trigger takes an advisory lock per topic.
        async with rt.engine.begin() as conn:
            ids = list((await conn.scalars(_ENTRIES, params)).all())
            await conn.execute(_LEDGER_ROWS, {"ids": ids})
    return member_ids
