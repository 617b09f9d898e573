"""The games: auctions as watchers see them (the leader's name masked), a member's bids,
campaigns and pledges, and the games mutations' payloads."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, ClassVar, Self

import strawberry

from app.games import duels
from app.games.auctions import Auction
from app.games.crowdfunding import Campaign
from app.games.duels import Answered, RulesRecord, Scored
from app.games.lifecycle import Stake
from app.games.quests import Level, Quest, Standing
from app.graphql.core.context import Info
from app.graphql.core.fields import described_field, node_id, optional_id
from app.graphql.core.inputs import parse_id
from app.graphql.core.mutations import Call
from app.graphql.games import enums
from app.graphql.games.resolvers import take_part
from app.graphql.ledger.resolvers import balance_after_write
from app.graphql.ledger.types import BalanceNode
from app.leaderboards.masking import NameMask, masked_name


def copied(node: type, value: Any, **computed: Any) -> dict[str, Any]:
    """A node's fields from the domain value's attributes of the same names; ``computed``:
    the others (ids as GraphQL ids, figures the value does not have as such)."""
    names = [f.name for f in dataclasses.fields(node) if f.init]  # not the resolvers
    return {name: getattr(value, name) for name in names if name not in computed} | computed


@strawberry.type
class GameFields:
    """What every game shows (each game's type adds its own)."""

    id: strawberry.ID
    code: str
    name: str
    starts_at: datetime


@strawberry.type(
    name="Auction",
    description="A points auction (积分竞拍) of a mall item: its leading bid, end and bidders.",
)
class AuctionNode(GameFields):
    item_id: strawberry.ID
    ends_at: datetime = strawberry.field(description="The end now: anti-sniping may move it.")
    scheduled_end: datetime = strawberry.field(description="The end as the auction was created.")
    starting_price: int
    min_increment: int
    reserve_price: int | None
    extend_seconds: int = strawberry.field(
        description="A bid this close to the end moves the end this far after the bid (0: off)."
    )
    status: enums.AuctionStatus
    outcome: enums.AuctionOutcome | None
    leading_bid: int | None = strawberry.field(description="The leading bid's points.")
    minimum_bid: int = strawberry.field(description="The least the next bid may offer.")
    bids: int
    bidders: int
    extensions: int = strawberry.field(description="How many times anti-sniping moved the end.")
    order_id: strawberry.ID | None = strawberry.field(
        description="The winner's redemption order, once won."
    )
    leader_id: strawberry.Private[int | None]

    @described_field(
        "The leader's name as boards show it: masked (张*明 by default, JIFEN_LEADERBOARD_NAMES)."
    )
    async def leader_name(self, info: Info) -> str | None:
        if self.leader_id is None:
            return None
        ctx = info.context
        member = await ctx.loaders.member.load(self.leader_id)
        name = member.name if member is not None else None
        return masked_name(name, self.leader_id, NameMask(ctx.runtime.settings.leaderboard_names))

    @classmethod
    def of(cls, a: Auction) -> AuctionNode:
        return cls(
            **copied(
                cls,
                a,
                id=node_id(a.id),
                item_id=node_id(a.item_id),
                leading_bid=a.leading_amount,
                order_id=optional_id(a.order_id),
                leader_id=a.leading_member_id,
            )
        )


@strawberry.type
class StakeFields:
    """What every stake shows (each game's type adds its game and its state)."""

    id: strawberry.ID
    member_id: strawberry.ID
    amount: int
    hold_id: strawberry.ID
    created_at: datetime

    game_field: ClassVar[str]  # the game it is a stake of: "auction_id"

    @classmethod
    def of(cls, s: Stake) -> Self:
        values: dict[str, Any] = {
            "id": node_id(s.id),
            "member_id": node_id(s.member_id),
            "amount": s.amount,
            "hold_id": node_id(s.hold_id),
            "created_at": s.created_at,
            "status": getattr(s, "status"),  # noqa: B009 (each game's own enum)
            cls.game_field: node_id(getattr(s, cls.game_field)),
        }
        return cls(**values)


@strawberry.type(
    name="AuctionBid", description="A member's bid: its points are held while it leads."
)
class BidNode(StakeFields):
    auction_id: strawberry.ID
    status: enums.BidStatus
    game_field = "auction_id"


@strawberry.type
class AuctionPayload:
    auction: AuctionNode


@strawberry.type(
    name="Campaign",
    description="A crowdfunding campaign (积分众筹): a goal of points by a deadline.",
)
class CampaignNode(GameFields):
    purpose: str
    goal: int
    pledged: int = strawberry.field(description="Points pledged now (spent, once reached).")
    backers: int
    progress: float = strawberry.field(description="pledged / goal (1.0 and more: reached).")
    ends_at: datetime
    min_pledge: int
    allow_raise: bool
    allow_withdraw: bool
    status: enums.CampaignStatus
    outcome: enums.CampaignOutcome | None

    @classmethod
    def of(cls, c: Campaign) -> CampaignNode:
        return cls(**copied(cls, c, id=node_id(c.id), progress=c.pledged / c.goal))


@strawberry.type(name="Pledge", description="A member's pledge: its points held until the end.")
class PledgeNode(StakeFields):
    campaign_id: strawberry.ID
    status: enums.PledgeStatus
    game_field = "campaign_id"


@strawberry.type
class CampaignPayload:
    campaign: CampaignNode


@strawberry.type
class PledgePayload:
    pledge: PledgeNode
    campaign: CampaignNode
    replayed: bool
    balance: BalanceNode

    @classmethod
    async def of(
        cls, call: Call, input: Any, take: Callable[..., Awaitable[Any]], **request: int
    ) -> PledgePayload:
        """A pledge or a withdrawal for the member the input names, and its answer."""
        pledged, balance = await take_part(call, input, "campaign", take, **request)
        return cls(
            pledge=PledgeNode.of(pledged.stake),
            campaign=CampaignNode.of(pledged.game),
            replayed=pledged.replayed,
            balance=balance,
        )


@strawberry.type
class BidPayload:
    bid: BidNode
    auction: AuctionNode
    replayed: bool
    balance: BalanceNode


@strawberry.type(name="DuelRules", description="What PK duels (积分PK赛) under these rules allow.")
class DuelRulesNode:
    id: strawberry.ID
    code: str
    name: str
    metrics: list[enums.DuelMetric]
    max_stake: int
    reward_points: int
    tie_rule: enums.TieRule
    accept_hours: int
    max_hours: int
    enabled: bool
    updated_at: datetime

    @classmethod
    def of(cls, r: RulesRecord) -> DuelRulesNode:
        rules = r.rules
        computed = {"id": node_id(r.id), "metrics": list(rules.metrics), "updated_at": r.updated_at}
        return cls(**copied(cls, rules, **computed))


@strawberry.type(
    name="Duel",
    description="A PK duel (积分PK赛): two members, a metric, a window, stakes held from both.",
)
class DuelNode:
    id: strawberry.ID
    challenger_id: strawberry.ID
    opponent_id: strawberry.ID
    metric: enums.DuelMetric
    stake: int = strawberry.field(description="Held from each side; the winner takes both.")
    reward_points: int
    tie_rule: enums.TieRule
    window_hours: int
    accept_by: datetime = strawberry.field(description="Not accepted by then, it expires.")
    status: enums.DuelStatus
    outcome: enums.DuelOutcome | None
    starts_at: datetime | None = strawberry.field(description="The accept: the window starts.")
    ends_at: datetime | None
    challenger_score: int = strawberry.field(description="So far while open; final once closed.")
    opponent_score: int
    winner_id: strawberry.ID | None
    created_at: datetime
    closed_at: datetime | None

    @classmethod
    def of(cls, s: Scored) -> DuelNode:
        d = s.duel
        return cls(
            **copied(
                cls,
                d,
                id=node_id(d.id),
                challenger_id=node_id(d.challenger_id),
                opponent_id=node_id(d.opponent_id),
                winner_id=optional_id(d.winner_id),
                challenger_score=s.challenger_score,
                opponent_score=s.opponent_score,
            )
        )


@strawberry.type
class DuelRulesPayload:
    rules: DuelRulesNode


@strawberry.type
class DuelPayload:
    duel: DuelNode
    replayed: bool
    balance: BalanceNode = strawberry.field(description="The member the input named, after.")

    @classmethod
    async def of(cls, call: Call, member: int, answered: Answered) -> DuelPayload:
        scored = await duels.scored_duel(call.runtime, answered.duel.id)
        balance = await balance_after_write(call.ctx, member)
        return cls(duel=DuelNode.of(scored), replayed=answered.replayed, balance=balance)

    @classmethod
    async def answer(cls, call: Call, input: Any, *, accept: bool) -> DuelPayload:
        """An accept or a decline by the member the input names."""
        member = await call.member(input.member_id)
        duel_id = parse_id(str(input.duel_id), "duelId")
        answered = await duels.answer_duel(
            call.runtime, call.actor, member, duel_id, accept, input.idempotency_key
        )
        return await cls.of(call, member, answered)


@strawberry.type(name="QuestLevel", description="A level: a task, and what finishing it pays.")
class QuestLevelNode:
    position: int
    task_id: strawberry.ID
    task: str = strawberry.field(description="The task's code.")
    task_name: str
    target: str = strawberry.field(description="What the task counts to complete.")
    reward_points: int
    badge: str | None

    @classmethod
    def of(cls, lv: Level) -> QuestLevelNode:
        return cls(**copied(cls, lv, task_id=node_id(lv.task_id), task=lv.task_code))


@strawberry.type(name="Quest", description="Quest levels (积分任务闯关): tasks played in order.")
class QuestNode:
    id: strawberry.ID
    code: str
    name: str
    description: str
    starts_at: datetime
    ends_at: datetime | None
    enabled: bool
    levels: list[QuestLevelNode]

    @classmethod
    def of(cls, q: Quest) -> QuestNode:
        levels = [QuestLevelNode.of(lv) for lv in q.levels]
        return cls(**copied(cls, q, id=node_id(q.id), levels=levels))


@strawberry.type(name="QuestStanding", description="A member in a quest: its level, live.")
class QuestStandingNode:
    quest: QuestNode
    finished: int = strawberry.field(description="Levels finished.")
    current_level: QuestLevelNode | None = strawberry.field(
        description="The level being played (null once all are finished)."
    )
    current_progress: str = strawberry.field(
        description="The current level's task progress in its current period."
    )
    completed: bool
    unlocked_at: datetime | None = strawberry.field(description="When the current level opened.")
    completed_at: datetime | None = strawberry.field(description="The last level finished at.")

    @classmethod
    def of(cls, s: Standing) -> QuestStandingNode:
        return cls(
            quest=QuestNode.of(s.quest),
            finished=s.finished,
            current_level=None if s.current is None else QuestLevelNode.of(s.current),
            current_progress=s.current_progress,
            completed=s.current is None,
            unlocked_at=s.unlocked_at,
            completed_at=s.completed_at,
        )


@strawberry.type
class QuestPayload:
    quest: QuestNode
