"""Crowdfunding with points (积分众筹): a goal of points by a deadline, for an item, a charity
or a shared reward (docs/GAMES.md).

A pledge holds the member's points (a ledger hold). At the deadline, by the clock, the
``games-close`` job closes the campaign: the goal reached, every pledge's hold is committed
(spent); missed, every hold is voided (the points back into their lots). Before the deadline a
member may raise its pledge (the old hold voided, one for the new total placed, in one
transaction) or withdraw it, as the campaign allows. Pledges, withdrawals and the close lock
the campaign row first (``FOR UPDATE``), then the accounts, so the total is exact whatever
the concurrency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import unit_of_work
from app.errors import DomainError, ErrorCode, not_found
from app.events.outbox import SIGNAL_PREFIX, append_event, member_topic
from app.games.auctions import HOLD_GRACE, SYSTEM, CloseOutcome
from app.games.policy import (
    CampaignOutcome,
    CampaignSpec,
    CampaignStatus,
    Drive,
    PledgeStatus,
    campaign_outcome,
    check_pledge,
    check_withdraw,
)
from app.games.tables import campaigns, pledges
from app.ledger.accounts import lock_account, member_statuses
from app.ledger.commands import CommitHold, PlaceHold, VoidHold
from app.ledger.idempotency import idempotent_replayed
from app.ledger.models import Actor, MemberStatus
from app.ledger.service import Ledger, LedgerPolicy
from app.runtime import Runtime

# The pledges that count toward the total: standing, spent, or released at a missed close.
COUNTED = (PledgeStatus.ACTIVE, PledgeStatus.COMMITTED, PledgeStatus.RELEASED)


def campaign_topic(campaign_id: int) -> str:
    """The campaign's change signal: its watchers re-read it on each burst."""
    return f"{SIGNAL_PREFIX}campaign:{campaign_id}"


@dataclass(frozen=True)
class Campaign:
    id: int
    code: str
    name: str
    purpose: str
    goal: int
    starts_at: datetime
    ends_at: datetime
    min_pledge: int
    allow_raise: bool
    allow_withdraw: bool
    status: CampaignStatus
    outcome: CampaignOutcome | None
    pledged: int
    backers: int
    created_at: datetime
    closed_at: datetime | None

    @property
    def drive(self) -> Drive:
        return Drive(
            self.status is CampaignStatus.OPEN,
            self.starts_at,
            self.ends_at,
            self.min_pledge,
            self.allow_raise,
            self.allow_withdraw,
        )

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "status": self.status.value,
            "pledged": self.pledged,
            "goal": self.goal,
            "backers": self.backers,
        }


@dataclass(frozen=True)
class Pledge:
    id: int
    campaign_id: int
    member_id: int
    amount: int
    hold_id: int
    status: PledgeStatus
    created_at: datetime


def _campaign(row: Row[Any]) -> Campaign:
    m = row._mapping
    return Campaign(
        **{k: m[k] for k in Campaign.__dataclass_fields__ if k not in ("status", "outcome")},
        status=CampaignStatus(row.status),
        outcome=None if row.outcome is None else CampaignOutcome(row.outcome),
    )


def _pledge(row: Row[Any]) -> Pledge:
    return Pledge(
        row.id,
        row.campaign_id,
        row.member_id,
        row.amount,
        row.hold_id,
        PledgeStatus(row.status),
        row.created_at,
    )


class Campaigns:
    def __init__(self, conn: AsyncConnection, rt: Runtime) -> None:
        self.conn = conn
        self.rt = rt
        self.clock = rt.clock
        self.ledger = Ledger(conn, rt.clock, LedgerPolicy.from_settings(rt.settings))

    # ------------------------------------------------------------------------------ writes

    async def create(self, spec: CampaignSpec, actor: Actor) -> Campaign:
        now = self.clock.now()
        spec.check(now)
        row = (
            await self.conn.execute(
                insert(campaigns)
                .values(
                    code=spec.code,
                    name=spec.name,
                    purpose=spec.purpose,
                    goal=spec.goal,
                    starts_at=spec.starts_at,
                    ends_at=spec.ends_at,
                    min_pledge=spec.min_pledge,
                    allow_raise=spec.allow_raise,
                    allow_withdraw=spec.allow_withdraw,
                    status=CampaignStatus.OPEN.value,
                    created_by=actor.principal,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["code"])
                .returning(*campaigns.c)
            )
        ).first()
        if row is None:
            raise DomainError(ErrorCode.ALREADY_EXISTS, f"campaign {spec.code} exists", "code")
        return _campaign(row)

    async def pledge(self, actor: Actor, member_id: int, campaign_id: int, total: int) -> Pledge:
        """Pledge ``total`` points, or raise one's pledge to ``total``."""
        campaign = await self._lock(campaign_id)
        current = await self._active(campaign_id, member_id)
        check_pledge(
            campaign.drive, None if current is None else current.amount, total, self.clock.now()
        )
        await lock_account(self.conn, member_id)
        if current is not None:
            await self._release(current, PledgeStatus.RAISED, "pledge raised", actor)
        pledge_id = int(
            await self.conn.scalar(text("SELECT nextval(pg_get_serial_sequence('pledges', 'id'))"))
        )
        hold = await self.ledger.hold(
            PlaceHold(
                member_id=member_id,
                amount=total,
                reason=f"crowdfunding pledge: {campaign.name}",
                reference=f"pledge:{pledge_id}",
                expires_at=campaign.ends_at + HOLD_GRACE,
            ),
            actor,
        )
        row = (
            await self.conn.execute(
                pledges.insert()
                .values(
                    id=pledge_id,
                    campaign_id=campaign_id,
                    member_id=member_id,
                    amount=total,
                    hold_id=hold.id,
                    status=PledgeStatus.ACTIVE.value,
                    created_at=self.clock.now(),
                )
                .returning(*pledges.c)
            )
        ).one()
        before = 0 if current is None else current.amount
        await self._count(campaign_id, total - before, int(current is None))
        await self._member_event(member_id, campaign_id, "crowdfunding.pledged", total)
        await self._signal(campaign_id, "crowdfunding.progress")
        return _pledge(row)

    async def withdraw(self, actor: Actor, member_id: int, campaign_id: int) -> Pledge:
        campaign = await self._lock(campaign_id)
        current = await self._active(campaign_id, member_id)
        check_withdraw(
            campaign.drive, None if current is None else current.amount, self.clock.now()
        )
        assert current is not None
        await lock_account(self.conn, member_id)
        await self._release(current, PledgeStatus.WITHDRAWN, "pledge withdrawn", actor)
        await self._count(campaign_id, -current.amount, -1)
        await self._member_event(member_id, campaign_id, "crowdfunding.withdrawn", 0)
        await self._signal(campaign_id, "crowdfunding.progress")
        return await self.get_pledge(current.id)

    async def close(self, campaign_id: int, actor: Actor) -> Campaign:
        """At (or after) the deadline: every pledge committed (goal reached) or voided."""
        campaign = await self._lock(campaign_id)
        if campaign.status is not CampaignStatus.OPEN:
            raise DomainError(ErrorCode.INVALID_STATE, f"campaign {campaign_id} is closed")
        if campaign.ends_at > self.clock.now():
            raise DomainError(
                ErrorCode.INVALID_STATE,
                f"campaign {campaign_id} ends at {campaign.ends_at.isoformat()}",
            )
        found = await self.conn.execute(
            select(pledges)
            .where(
                pledges.c.campaign_id == campaign_id,
                pledges.c.status == PledgeStatus.ACTIVE.value,
            )
            .order_by(pledges.c.member_id)  # accounts locked in id order
        )
        standing = [_pledge(r) for r in found]
        for pledge in standing:
            await lock_account(self.conn, pledge.member_id)
        statuses = await member_statuses(self.conn, [p.member_id for p in standing])
        pledged = campaign.pledged
        for pledge in [p for p in standing if statuses[p.member_id] is not MemberStatus.ACTIVE]:
            # A frozen or closed member may not spend: its pledge is taken out before the goal
            # is judged (its points back, as a withdrawal).
            await self._release(pledge, PledgeStatus.WITHDRAWN, "member not active", actor)
            await self._count(campaign_id, -pledge.amount, -1)
            pledged -= pledge.amount
        outcome = campaign_outcome(pledged, campaign.goal)
        for pledge in [p for p in standing if statuses[p.member_id] is MemberStatus.ACTIVE]:
            if outcome is CampaignOutcome.REACHED:
                await self.ledger.commit_hold(CommitHold(hold_id=pledge.hold_id), actor)
                await self._set(pledge.id, PledgeStatus.COMMITTED)
            else:
                await self._release(pledge, PledgeStatus.RELEASED, "goal missed", actor)
            await self._member_event(
                pledge.member_id, campaign_id, f"crowdfunding.{outcome.value}", pledge.amount
            )
        await self.conn.execute(
            campaigns.update()
            .where(campaigns.c.id == campaign_id)
            .values(
                status=CampaignStatus.CLOSED.value,
                outcome=outcome.value,
                closed_at=self.clock.now(),
            )
        )
        await self._signal(campaign_id, "crowdfunding.closed")
        return await self.get(campaign_id)

    # ------------------------------------------------------------------------------- reads

    async def get(self, campaign_id: int) -> Campaign:
        row = (
            await self.conn.execute(select(campaigns).where(campaigns.c.id == campaign_id))
        ).first()
        if row is None:
            raise not_found("campaign", campaign_id, "campaignId")
        return _campaign(row)

    async def get_pledge(self, pledge_id: int) -> Pledge:
        row = (await self.conn.execute(select(pledges).where(pledges.c.id == pledge_id))).one()
        return _pledge(row)

    async def listing(self, *, open_only: bool, first: int) -> list[Campaign]:
        query = select(campaigns)
        if open_only:
            query = query.where(campaigns.c.status == CampaignStatus.OPEN.value)
        query = query.order_by(campaigns.c.ends_at, campaigns.c.id).limit(first)
        return [_campaign(r) for r in await self.conn.execute(query)]

    async def pledges_of(self, member_id: int, *, first: int) -> list[Pledge]:
        rows = await self.conn.execute(
            select(pledges)
            .where(pledges.c.member_id == member_id)
            .order_by(pledges.c.id.desc())
            .limit(first)
        )
        return [_pledge(r) for r in rows]

    async def due_ids(self, limit: int) -> list[int]:
        found = await self.conn.scalars(
            select(campaigns.c.id)
            .where(
                campaigns.c.status == CampaignStatus.OPEN.value,
                campaigns.c.ends_at <= self.clock.now(),
            )
            .order_by(campaigns.c.ends_at, campaigns.c.id)
            .limit(limit)
        )
        return list(found.all())

    # --------------------------------------------------------------------------- mechanics

    async def _lock(self, campaign_id: int) -> Campaign:
        row = (
            await self.conn.execute(
                select(campaigns).where(campaigns.c.id == campaign_id).with_for_update()
            )
        ).first()
        if row is None:
            raise not_found("campaign", campaign_id, "campaignId")
        return _campaign(row)

    async def _active(self, campaign_id: int, member_id: int) -> Pledge | None:
        row = (
            await self.conn.execute(
                select(pledges).where(
                    pledges.c.campaign_id == campaign_id,
                    pledges.c.member_id == member_id,
                    pledges.c.status == PledgeStatus.ACTIVE.value,
                )
            )
        ).first()
        return None if row is None else _pledge(row)

    async def _release(
        self, pledge: Pledge, status: PledgeStatus, reason: str, actor: Actor
    ) -> None:
        await self.ledger.void_hold(VoidHold(hold_id=pledge.hold_id, reason=reason), actor)
        await self._set(pledge.id, status)

    async def _set(self, pledge_id: int, status: PledgeStatus) -> None:
        await self.conn.execute(
            pledges.update().where(pledges.c.id == pledge_id).values(status=status.value)
        )

    async def _count(self, campaign_id: int, points: int, backers: int) -> None:
        await self.conn.execute(
            campaigns.update()
            .where(campaigns.c.id == campaign_id)
            .values(pledged=campaigns.c.pledged + points, backers=campaigns.c.backers + backers)
        )

    async def _member_event(
        self, member_id: int, campaign_id: int, event_type: str, amount: int
    ) -> None:
        await append_event(
            self.conn,
            member_topic(member_id),
            event_type,
            {"member_id": member_id, "campaign_id": campaign_id, "amount": amount},
        )

    async def _signal(self, campaign_id: int, event_type: str) -> None:
        campaign = await self.get(campaign_id)
        await append_event(self.conn, campaign_topic(campaign_id), event_type, campaign.payload())


# ------------------------------------------------------------------------------ use cases


async def create_campaign(rt: Runtime, actor: Actor, spec: CampaignSpec) -> Campaign:
    async with unit_of_work(rt.engine) as conn:
        return await Campaigns(conn, rt).create(spec, actor)


async def ensure_campaign(rt: Runtime, actor: Actor, spec: CampaignSpec) -> Campaign:
    """Create the campaign unless one with its code exists (the demo seed)."""
    try:
        return await create_campaign(rt, actor, spec)
    except DomainError as error:
        if error.code is not ErrorCode.ALREADY_EXISTS:
            raise
    async with rt.engine.connect() as conn:
        row = (await conn.execute(select(campaigns).where(campaigns.c.code == spec.code))).one()
        return _campaign(row)


@dataclass(frozen=True)
class Pledged:
    pledge: Pledge
    campaign: Campaign
    replayed: bool


async def pledge_points(
    rt: Runtime,
    actor: Actor,
    *,
    member_id: int,
    campaign_id: int,
    amount: int,
    idempotency_key: str,
) -> Pledged:
    """Pledge (or raise one's pledge to) ``amount`` points; idempotent per caller and key."""
    async with unit_of_work(rt.engine) as conn:
        service = Campaigns(conn, rt)
        pledge, replayed = await idempotent_replayed(
            conn,
            now=rt.clock.now(),
            caller=actor.principal,
            key=idempotency_key,
            operation="games.pledge",
            request={"member_id": member_id, "campaign_id": campaign_id, "amount": amount},
            run=lambda: service.pledge(actor, member_id, campaign_id, amount),
            dump=lambda p: {"pledge_id": p.id},
            load=lambda stored: service.get_pledge(int(stored["pledge_id"])),
        )
        return Pledged(pledge, await service.get(campaign_id), replayed)


async def withdraw_pledge(
    rt: Runtime, actor: Actor, *, member_id: int, campaign_id: int, idempotency_key: str
) -> Pledged:
    """Take one's pledge back before the deadline (the hold voided); idempotent per key."""
    async with unit_of_work(rt.engine) as conn:
        service = Campaigns(conn, rt)
        pledge, replayed = await idempotent_replayed(
            conn,
            now=rt.clock.now(),
            caller=actor.principal,
            key=idempotency_key,
            operation="games.withdraw",
            request={"member_id": member_id, "campaign_id": campaign_id},
            run=lambda: service.withdraw(actor, member_id, campaign_id),
            dump=lambda p: {"pledge_id": p.id},
            load=lambda stored: service.get_pledge(int(stored["pledge_id"])),
        )
        return Pledged(pledge, await service.get(campaign_id), replayed)


async def close_campaign(rt: Runtime, actor: Actor, campaign_id: int) -> Campaign:
    async with unit_of_work(rt.engine) as conn:
        return await Campaigns(conn, rt).close(campaign_id, actor)


async def close_due_campaigns(rt: Runtime, *, limit: int = 200) -> CloseOutcome:
    """The closing job's step for campaigns: each due one in its own transaction."""
    async with rt.engine.connect() as conn:
        due = await Campaigns(conn, rt).due_ids(limit)
    closed = skipped = 0
    for campaign_id in due:
        try:
            await close_campaign(rt, SYSTEM, campaign_id)
        except DomainError:
            skipped += 1  # closed by another run meanwhile
            continue
        closed += 1
    return CloseOutcome(closed, skipped)


async def get_campaign(rt: Runtime, campaign_id: int) -> Campaign:
    async with rt.engine.connect() as conn:
        return await Campaigns(conn, rt).get(campaign_id)


async def list_campaigns(rt: Runtime, *, open_only: bool, first: int) -> list[Campaign]:
    async with rt.engine.connect() as conn:
        return await Campaigns(conn, rt).listing(open_only=open_only, first=first)


async def list_pledges(rt: Runtime, member_id: int, *, first: int) -> list[Pledge]:
    async with rt.engine.connect() as conn:
        return await Campaigns(conn, rt).pledges_of(member_id, first=first)
