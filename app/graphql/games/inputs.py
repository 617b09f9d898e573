"""The games mutations' inputs."""

from __future__ import annotations

from datetime import datetime

import strawberry


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
