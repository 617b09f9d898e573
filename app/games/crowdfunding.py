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
from typing import Any

from sqlalchemy import select

from app.events.outbox import append_event, member_topic
from app.games.lifecycle import Game, GameApi, GameKind, GameService, Stake, StakeKind
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
from app.ledger.commands import CommitHold
from app.ledger.models import Actor, MemberStatus

# The pledges that count toward the total: standing, spent, or released at a missed close.
COUNTED = (PledgeStatus.ACTIVE, PledgeStatus.COMMITTED, PledgeStatus.RELEASED)


@dataclass(frozen=True)
class Campaign(Game):
    purpose: str
    goal: int
    min_pledge: int
    allow_raise: bool
    allow_withdraw: bool
    status: CampaignStatus
    outcome: CampaignOutcome | None
    pledged: int
    backers: int

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

    def figures(self) -> dict[str, Any]:
        return {
            "pledged": self.pledged,
            "goal": self.goal,
            "backers": self.backers,
        }


@dataclass(frozen=True)
class Pledge(Stake):
    campaign_id: int
    status: PledgeStatus


CAMPAIGN = GameKind.of(campaigns, Campaign, CampaignStatus, CampaignOutcome)


class Campaigns(GameService[Campaign, Pledge]):
    """Pledges, raises, withdrawals and the close, under the campaign's row lock."""

    game, stake = CAMPAIGN, StakeKind.of(pledges, Pledge, PledgeStatus, "pledge_id", "pledge")

    # ------------------------------------------------------------------------------ writes

    async def create(self, spec: CampaignSpec, actor: Actor) -> Campaign:
        return await self.insert_game(spec, actor)

    async def pledge(self, actor: Actor, member_id: int, campaign_id: int, amount: int) -> Pledge:
        """Pledge ``amount`` points, or raise one's pledge to ``amount`` (its new total)."""
        total = amount
        campaign = await self.lock(campaign_id)
        current = await self._active(campaign_id, member_id)
        check_pledge(
            campaign.drive, None if current is None else current.amount, total, self.clock.now()
        )
        await lock_account(self.conn, member_id)
        if current is not None:
            await self._release(current, PledgeStatus.RAISED, "pledge raised", actor)
        pledge = await self.place_stake(
            campaign_id,
            campaign.ends_at,
            (member_id, total, f"crowdfunding pledge: {campaign.name}"),
            actor,
            status=PledgeStatus.ACTIVE.value,
        )
        before = 0 if current is None else current.amount
        await self._count(campaign_id, total - before, int(current is None))
        await self._member_event(member_id, campaign_id, "crowdfunding.pledged", total)
        await self.signal(campaign_id, "crowdfunding.progress")
        return pledge

    async def withdraw(self, actor: Actor, member_id: int, campaign_id: int) -> Pledge:
        campaign = await self.lock(campaign_id)
        current = await self._active(campaign_id, member_id)
        check_withdraw(
            campaign.drive, None if current is None else current.amount, self.clock.now()
        )
        assert current is not None
        await lock_account(self.conn, member_id)
        await self._release(current, PledgeStatus.WITHDRAWN, "pledge withdrawn", actor)
        await self._count(campaign_id, -current.amount, -1)
        await self._member_event(member_id, campaign_id, "crowdfunding.withdrawn", 0)
        await self.signal(campaign_id, "crowdfunding.progress")
        return await self.get_stake(current.id)

    async def close(self, campaign_id: int, actor: Actor) -> Campaign:
        """At (or after) the deadline: every pledge committed (goal reached) or voided."""
        campaign = await self.lock_open_due(campaign_id)
        found = await self.conn.execute(
            select(pledges)
            .where(
                pledges.c.campaign_id == campaign_id,
                pledges.c.status == PledgeStatus.ACTIVE.value,
            )
            .order_by(pledges.c.member_id)  # accounts locked in id order
        )
        standing = [self.stake.load(r) for r in found]
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
                await self.set_stake(pledge.id, PledgeStatus.COMMITTED)
            else:
                await self._release(pledge, PledgeStatus.RELEASED, "goal missed", actor)
            await self._member_event(
                pledge.member_id, campaign_id, f"crowdfunding.{outcome.value}", pledge.amount
            )
        await self.mark_closed(campaign_id, outcome=outcome.value)
        await self.signal(campaign_id, "crowdfunding.closed")
        return await self.get(campaign_id)

    # --------------------------------------------------------------------------- mechanics

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
        return None if row is None else self.stake.load(row)

    async def _release(
        self, pledge: Pledge, status: PledgeStatus, reason: str, actor: Actor
    ) -> None:
        await self.release(pledge.id, pledge.hold_id, status, reason, actor)

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


# ------------------------------------------------------------------------------ use cases


CAMPAIGNS = GameApi(Campaigns)
# pledge_points(rt, actor, member_id=…, campaign_id=…, amount=…, idempotency_key=…): a first
# pledge, or a raise to ``amount``
pledge_points = CAMPAIGNS.taking_part("games.pledge", Campaigns.pledge)
# withdraw_pledge(rt, actor, member_id=…, campaign_id=…, idempotency_key=…)
withdraw_pledge = CAMPAIGNS.taking_part("games.withdraw", Campaigns.withdraw)
