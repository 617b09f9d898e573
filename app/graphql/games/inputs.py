"""The games mutations' inputs."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.graphql.games.enums import DuelMetric, TieRule


@strawberry.input(description="A points auction of a mall item (staff).")
class CreateAuctionInput:
    code: str
    name: str
    item_id: strawberry.ID
    starts_at: datetime
    ends_at: datetime
    starting_price: int
    min_increment: int
    reserve_price: int | None = strawberry.field(
        default=None, description="Below it, the auction closes without a sale."
    )
    extend_seconds: int = strawberry.field(
        default=0,
        description="Anti-sniping: a bid this close to the end moves the end this far after it.",
    )


@strawberry.input(description="Idempotent per caller and idempotencyKey.")
class PlaceBidInput:
    member_id: strawberry.ID
    auction_id: strawberry.ID
    amount: int
    idempotency_key: str


@strawberry.input(description="A crowdfunding campaign (staff).")
class CreateCampaignInput:
    code: str
    name: str
    goal: int
    starts_at: datetime
    ends_at: datetime
    purpose: str = strawberry.field(
        default="", description="What the points are for: an item, a charity, a shared reward."
    )
    min_pledge: int = 1
    allow_raise: bool = True
    allow_withdraw: bool = True


@strawberry.input(description="Idempotent per caller and idempotencyKey.")
class PledgePointsInput:
    member_id: strawberry.ID
    campaign_id: strawberry.ID
    amount: int = strawberry.field(description="The whole pledge: a first one, or a raise to it.")
    idempotency_key: str


@strawberry.input(description="Idempotent per caller and idempotencyKey.")
class WithdrawPledgeInput:
    member_id: strawberry.ID
    campaign_id: strawberry.ID
    idempotency_key: str


@strawberry.input(description="PK duel rules (staff): created, or changed by their code.")
class SaveDuelRulesInput:
    code: str
    name: str
    metrics: list[DuelMetric] = strawberry.field(description="What a challenge may compare.")
    max_stake: int = strawberry.field(description="The largest stake each side holds (0: none).")
    reward_points: int = strawberry.field(
        default=0, description="Paid by the programme to the winner (split over a tie)."
    )
    tie_rule: TieRule = TieRule.SPLIT
    accept_hours: int = strawberry.field(
        default=24, description="A challenge not accepted within this expires."
    )
    max_hours: int = strawberry.field(default=168, description="The longest window.")
    enabled: bool = True


@strawberry.input(description="Idempotent per caller and idempotencyKey.")
class ChallengeDuelInput:
    member_id: strawberry.ID = strawberry.field(description="The challenger.")
    opponent_id: strawberry.ID
    rules: str = strawberry.field(description="The duel rules' code.")
    metric: DuelMetric
    stake: int = strawberry.field(default=0, description="Held from each side; 0: none.")
    hours: int = strawberry.field(description="The window, from the accept.")
    idempotency_key: str


@strawberry.input(description="The challenged member's answer; idempotent per idempotencyKey.")
class AnswerDuelInput:
    member_id: strawberry.ID = strawberry.field(description="The challenged member.")
    duel_id: strawberry.ID
    idempotency_key: str


@strawberry.input(description="A quest level: an engagement task and what finishing it pays.")
class QuestLevelInput:
    task: str = strawberry.field(description="The task's code.")
    reward_points: int = 0
    badge: str | None = None


@strawberry.input(description="Quest levels (积分任务闯关, staff): an ordered chain of tasks.")
class CreateQuestInput:
    code: str
    name: str
    starts_at: datetime
    levels: list[QuestLevelInput] = strawberry.field(
        description="In order: finishing level N unlocks N + 1. Only level 1 may be one-off."
    )
    ends_at: datetime | None = None
    description: str = ""
