"""The reward log: every reward engagement gives, at most once per (member, key).

Points go through the ledger (an ``earn`` against ``issuance``) in the caller's transaction; the
log row is inserted first with ``ON CONFLICT DO NOTHING``, so a replay or a race that got past
the callers' own checks pays nothing: the unique key in PostgreSQL is the last line of defence.
Lottery draws are recorded here as ``lottery_draw`` rewards (the mall issue owns lotteries and
may honour them), gifts as ``gift``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import Row, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import ReturningInsert

from app.clock import Clock
from app.config import Settings
from app.engagement.tables import engagement_profiles, engagement_rewards
from app.errors import DomainError, ErrorCode
from app.hooks import Slot
from app.ledger.accounts import AccountLock, lock_account
from app.ledger.commands import Earn
from app.ledger.credits import Stamp
from app.ledger.models import Actor, Entry
from app.ledger.service import Ledger, LedgerPolicy
from app.members.models import MemberStatus
from app.members.tables import members


class GrantDrawTicket(Protocol):
    """Grant one free draw in a pool, idempotent on ``source_ref``; NOT_FOUND without the pool."""

    async def __call__(
        self,
        conn: AsyncConnection,
        member_id: int,
        pool_code: str,
        source_ref: str,
        *,
        at: datetime | None = None,
    ) -> object: ...


# Draw tickets are the mall's (app/mall/lottery.py), a domain above this one: the mall provides
# the grant when its package is imported (app/mall/__init__.py).
DRAW_TICKETS: Slot[GrantDrawTicket] = Slot("engagement.draw_tickets")


class RewardKind(StrEnum):
    POINTS = "points"
    GIFT = "gift"
    LOTTERY_DRAW = "lottery_draw"
    BADGE = "badge"
    MAKEUP_CARD = "makeup_card"


@dataclass(frozen=True)
class Granted:
    """A reward that was given (None of these when the key had already been paid)."""

    kind: RewardKind
    key: str
    points: int = 0
    quantity: int = 1
    item: str | None = None
    entry: Entry | None = None


@dataclass(frozen=True)
class PointsReward:
    """Points given once under ``key``: what its ledger entry and its reward-log row say."""

    key: str
    points: int
    source: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


async def lock_member(conn: AsyncConnection, member_id: int, *also: Any) -> Row[Any]:
    """Take the member's account lock (the ledger's one lock, always first); refuse a closed or
    unknown member. The status is read after the lock, in a statement of its own: the locking
    statement's view of the member may predate a status change committed while it waited.
    ``also`` (columns, scalar subqueries) is read in that same statement, for callers that need
    more of the member under its lock at no extra round trip; the row has ``status`` first."""
    row, _ = await _lock_and_read(conn, member_id, also)
    return row


async def _lock_and_read(
    conn: AsyncConnection, member_id: int, also: tuple[Any, ...]
) -> tuple[Row[Any], AccountLock]:
    lock = await lock_account(conn, member_id)
    row = (
        await conn.execute(select(members.c.status, *also).where(members.c.id == member_id))
    ).one()
    if row.status == MemberStatus.CLOSED.value:
        raise DomainError(ErrorCode.MEMBER_NOT_ACTIVE, "the member's account is closed")
    return row, lock


async def ensure_profile(conn: AsyncConnection, member_id: int) -> None:
    await conn.execute(
        insert(engagement_profiles).values(member_id=member_id).on_conflict_do_nothing()
    )


# A reward's log row, ``INSERT … ON CONFLICT DO NOTHING RETURNING id`` (no id: the key was
# already given), its values the parameters (:meth:`Rewards.log_values`): built once, for every
# reward a purchase, a task or a check-in gives.
LOG_ROW: ReturningInsert[Any] = (
    insert(engagement_rewards).on_conflict_do_nothing().returning(engagement_rewards.c.id)
)


def log_row(row: dict[str, Any]) -> ReturningInsert[Any]:
    """:data:`LOG_ROW` with ``row``'s values in it, for a caller that runs it inside a
    statement of its own (as a data-modifying CTE)."""
    return LOG_ROW.values(**row)


class Rewards:
    """Grants rewards inside the caller's transaction (the member's lock already taken)."""

    def __init__(
        self,
        conn: AsyncConnection,
        clock: Clock,
        policy: LedgerPolicy,
        lottery_pool: str | None = None,
    ) -> None:
        self.conn = conn
        self.clock = clock
        self.ledger = Ledger(conn, clock, policy)
        self.lottery_pool = lottery_pool
        # The member's account lock that the write being rewarded holds (a purchase's, an
        # event's), renewed by each credit: the rewards' earns for that member adopt it
        # instead of locking and reading the member again.
        self.held: AccountLock | None = None

    @classmethod
    def of(cls, conn: AsyncConnection, clock: Clock, settings: Settings) -> Rewards:
        return cls(
            conn, clock, LedgerPolicy.from_settings(settings), settings.engagement_lottery_pool
        )

    async def _draw_tickets(
        self, member_id: int, key: str, quantity: int, details: dict[str, Any] | None
    ) -> None:
        """Free draws in the mall's pool (app/mall/lottery.py), one ticket per draw, idempotent
        on a ref made of the reward's key. Without the pool (a programme without the mall) the
        draws stay recorded here, owed, and nothing else fails."""
        if self.lottery_pool is None:
            return
        for n in range(quantity):
            try:
                await DRAW_TICKETS()(
                    self.conn,
                    member_id,
                    self.lottery_pool,
                    f"engagement:{member_id}:{key}:{n}"[:128],
                    at=self.clock.now(),
                )
            except DomainError as missing:  # the pool does not exist: nothing was written
                if missing.code is not ErrorCode.NOT_FOUND:
                    raise
                return

    async def lock_for_earn(self, member_id: int, *also: Any) -> tuple[Row[Any], AccountLock]:
        """:func:`lock_member` through the ledger: the lock (with the status read after it)
        then serves this transaction's one earn (``earn(…, lock=…)``), which neither locks nor
        reads the member again."""
        row, lock = await _lock_and_read(self.conn, member_id, also)
        lock.status = MemberStatus(row.status)
        return row, lock

    def log_values(
        self,
        member_id: int,
        key: str,
        kind: RewardKind,
        source: str,
        *,
        points: int = 0,
        quantity: int = 1,
        item: str | None = None,
        details: dict[str, Any] | None = None,
        entry_id: int | None = None,
    ) -> dict[str, Any]:
        """The reward's row, for :func:`log_row` (or for :data:`LOG_ROW` as its parameters)."""
        return {
            "member_id": member_id,
            "key": key,
            "kind": kind.value,
            "source": source,
            "points": points,
            "quantity": quantity,
            "item": item,
            "details": details or {},
            "entry_id": entry_id,
            "created_at": self.clock.now(),
        }

    async def _log(self, row: dict[str, Any]) -> int | None:
        """Write the reward's row (:meth:`log_values`); its id, None when the key was already
        given."""
        logged: int | None = await self.conn.scalar(LOG_ROW, row)
        return logged

    async def earn(
        self,
        member_id: int,
        reward: PointsReward,
        *,
        actor: Actor,
        lock: AccountLock | None = None,
        stamp: Stamp | None = None,
    ) -> Entry:
        """The ledger earn of a points reward (its key is the entry's reference). Callers log
        the reward in the same transaction: ``points`` does; a caller that logs it inside a
        statement of its own (a check-in) refuses, and so rolls back, when the key was taken.
        ``lock``: from :meth:`lock_for_earn` (else the :attr:`held` one, when it is the
        member's). ``stamp``: the reward's log row, which takes the entry's id."""
        held = self.held
        if lock is None and held is not None and not held.used:
            lock = held if held.row.member_id == member_id else None
        return await self.ledger.earn(
            Earn(
                member_id=member_id,
                amount=reward.points,
                reason=reward.reason,
                reference=reward.key[:128],
                details={"engagement": reward.source, "reward_key": reward.key, **reward.details},
            ),
            actor,
            lock=lock,
            stamp=stamp,
        )

    async def points(
        self,
        member_id: int,
        key: str,
        points: int,
        *,
        source: str,
        reason: str,
        actor: Actor,
        details: dict[str, Any] | None = None,
    ) -> Granted | None:
        """Earn ``points`` once under ``key``; None when that key was already paid (or 0)."""
        if points <= 0:
            return None
        logged = await self._log(
            self.log_values(
                member_id, key, RewardKind.POINTS, source, points=points, details=details
            )
        )
        if logged is None:
            return None
        reward = PointsReward(key, points, source, reason, details or {})
        stamp = Stamp(engagement_rewards, logged)  # the log row's entry id, in the credit
        entry = await self.earn(member_id, reward, actor=actor, stamp=stamp)
        return Granted(RewardKind.POINTS, key, points=points, entry=entry)

    async def item(
        self,
        member_id: int,
        key: str,
        kind: RewardKind,
        *,
        source: str,
        item: str | None = None,
        quantity: int = 1,
        details: dict[str, Any] | None = None,
    ) -> Granted | None:
        """A non-points reward once under ``key``: a gift, lottery draws, a make-up card."""
        if quantity <= 0:
            return None
        logged = await self._log(
            self.log_values(
                member_id, key, kind, source, quantity=quantity, item=item, details=details
            )
        )
        if logged is None:
            return None
        if kind is RewardKind.LOTTERY_DRAW:
            await self._draw_tickets(member_id, key, quantity, details)
        if kind is RewardKind.MAKEUP_CARD:
            await ensure_profile(self.conn, member_id)
            await self.conn.execute(
                engagement_profiles.update()
                .where(engagement_profiles.c.member_id == member_id)
                .values(makeup_cards=engagement_profiles.c.makeup_cards + quantity)
            )
        return Granted(kind, key, quantity=quantity, item=item)
