"""The games: auctions as watchers see them (the leader's name masked), a member's bids,
campaigns and pledges, and the games mutations' payloads."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.games.auctions import Auction, Bid
from app.games.crowdfunding import Campaign, Pledge
from app.graphql.core.context import Info
from app.graphql.core.fields import described_field, node_id, optional_id
from app.graphql.games.enums import (
    AuctionOutcome,
    AuctionStatus,
    BidStatus,
    CampaignOutcome,
    CampaignStatus,
    PledgeStatus,
)
from app.graphql.ledger.types import BalanceNode
from app.leaderboards.masking import NameMask, masked_name


@strawberry.type(
    name="Auction",
    description="A points auction (积分竞拍) of a mall item: its leading bid, end and bidders.",
)
class AuctionNode:
    id: strawberry.ID
    code: str
    name: str
    item_id: strawberry.ID
    starts_at: datetime
    ends_at: datetime = strawberry.field(description="The end now: anti-sniping may move it.")
    scheduled_end: datetime = strawberry.field(description="The end as the auction was created.")
    starting_price: int
    min_increment: int
    reserve_price: int | None
    extend_seconds: int = strawberry.field(
        description="A bid this close to the end moves the end this far after the bid (0: off)."
    )
    status: AuctionStatus
    outcome: AuctionOutcome | None
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
            id=node_id(a.id),
            code=a.code,
            name=a.name,
            item_id=node_id(a.item_id),
            starts_at=a.starts_at,
            ends_at=a.ends_at,
            scheduled_end=a.scheduled_end,
            starting_price=a.starting_price,
            min_increment=a.min_increment,
            reserve_price=a.reserve_price,
            extend_seconds=a.extend_seconds,
            status=a.status,
            outcome=a.outcome,
            leading_bid=a.leading_amount,
            minimum_bid=a.minimum_bid,
            bids=a.bids,
            bidders=a.bidders,
            extensions=a.extensions,
            order_id=optional_id(a.order_id),
            leader_id=a.leading_member_id,
        )


@strawberry.type(
    name="AuctionBid", description="A member's bid: its points are held while it leads."
)
class BidNode:
    id: strawberry.ID
    auction_id: strawberry.ID
    member_id: strawberry.ID
    amount: int
    hold_id: strawberry.ID
    status: BidStatus
    created_at: datetime

    @classmethod
    def of(cls, b: Bid) -> BidNode:
        return cls(
            id=node_id(b.id),
            auction_id=node_id(b.auction_id),
            member_id=node_id(b.member_id),
            amount=b.amount,
            hold_id=node_id(b.hold_id),
            status=b.status,
            created_at=b.created_at,
        )


@strawberry.type
class AuctionPayload:
    auction: AuctionNode


@strawberry.type
class BidPayload:
    bid: BidNode
    auction: AuctionNode
    replayed: bool
    balance: BalanceNode


@strawberry.type(
    name="Campaign",
    description="A crowdfunding campaign (积分众筹): a goal of points by a deadline.",
)
class CampaignNode:
    id: strawberry.ID
    code: str
    name: str
    purpose: str
    goal: int
    pledged: int = strawberry.field(description="Points pledged now (spent, once reached).")
    backers: int
    progress: float = strawberry.field(description="pledged / goal (1.0 and more: reached).")
    starts_at: datetime
    ends_at: datetime
    min_pledge: int
    allow_raise: bool
    allow_withdraw: bool
    status: CampaignStatus
    outcome: CampaignOutcome | None

    @classmethod
    def of(cls, c: Campaign) -> CampaignNode:
        return cls(
            id=node_id(c.id),
            code=c.code,
            name=c.name,
            purpose=c.purpose,
            goal=c.goal,
            pledged=c.pledged,
            backers=c.backers,
            progress=c.pledged / c.goal,
            starts_at=c.starts_at,
            ends_at=c.ends_at,
            min_pledge=c.min_pledge,
            allow_raise=c.allow_raise,
            allow_withdraw=c.allow_withdraw,
            status=c.status,
            outcome=c.outcome,
        )


@strawberry.type(name="Pledge", description="A member's pledge: its points held until the end.")
class PledgeNode:
    id: strawberry.ID
    campaign_id: strawberry.ID
    member_id: strawberry.ID
    amount: int
    hold_id: strawberry.ID
    status: PledgeStatus
    created_at: datetime

    @classmethod
    def of(cls, p: Pledge) -> PledgeNode:
        return cls(
            id=node_id(p.id),
            campaign_id=node_id(p.campaign_id),
            member_id=node_id(p.member_id),
            amount=p.amount,
            hold_id=node_id(p.hold_id),
            status=p.status,
            created_at=p.created_at,
        )


@strawberry.type
class CampaignPayload:
    campaign: CampaignNode


@strawberry.type
class PledgePayload:
    pledge: PledgeNode
    campaign: CampaignNode
    replayed: bool
    balance: BalanceNode
