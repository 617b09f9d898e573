"""Games, live: an auction's leading bid, end and bidder count, a campaign's progress, pushed
to every watcher on every replica when a bid or pledge lands or the game closes."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from app.errors import not_found
from app.events.outbox import member_topic
from app.games import duels, quests
from app.games.auctions import AUCTIONS
from app.games.crowdfunding import CAMPAIGNS
from app.graphql.core.context import Info
from app.graphql.core.fields import described_subscription
from app.graphql.core.inputs import parse_id
from app.graphql.core.subscriptions import state_on_change
from app.graphql.games.fields import live_field
from app.graphql.games.types import AuctionNode, CampaignNode, DuelNode, QuestStandingNode


async def members_own(
    info: Info, operation: str, member_id: strawberry.ID, raw_id: strawberry.ID
) -> tuple[int, int]:
    """The member (once the caller may read it) and the id of its game the caller follows."""
    ctx = info.context
    ctx.require(operation)
    member = parse_id(member_id, "memberId")
    await ctx.readable_member(operation, member)
    return member, parse_id(str(raw_id), "id")


@strawberry.type
class GameSubscriptions:
    live_auction = live_field(
        "An auction now, then after every bid, anti-sniping extension and its close.",
        "liveAuction",
        AUCTIONS,
        AuctionNode,
    )
    live_campaign = live_field(
        "A campaign's progress now, then after every pledge and its close.",
        "liveCampaign",
        CAMPAIGNS,
        CampaignNode,
    )

    @described_subscription(
        "A member's PK duel now, then after every accept, score change and its close: the "
        "scores are re-read when either member earns, buys or signs in."
    )
    async def live_duel(
        self, info: Info, member_id: strawberry.ID, id: strawberry.ID
    ) -> AsyncGenerator[DuelNode, None]:
        ctx = info.context
        member, duel_id = await members_own(info, "liveDuel", member_id, id)
        found = await duels.scored_duel(ctx.runtime, duel_id)
        if member not in (found.duel.challenger_id, found.duel.opponent_id):
            raise not_found("duel", duel_id, "id")  # not this member's duel

        async def read() -> DuelNode:
            return DuelNode.of(await duels.scored_duel(ctx.runtime, duel_id))

        topics = (member_topic(found.duel.challenger_id), member_topic(found.duel.opponent_id))
        async for frame in state_on_change(ctx, duels.DUEL.topic(duel_id), read, *topics):
            yield frame

    @described_subscription(
        "A member in a quest now, then after each of its task progressions and level finished."
    )
    async def live_quest(
        self, info: Info, member_id: strawberry.ID, id: strawberry.ID
    ) -> AsyncGenerator[QuestStandingNode, None]:
        member, quest_id = await members_own(info, "liveQuest", member_id, id)
        rt = info.context.runtime

        async def read() -> QuestStandingNode:
            found = await quests.quest_standings(rt, member, quest_id=quest_id)
            if not found:
                raise not_found("quest", quest_id, "id")
            return QuestStandingNode.of(found[0])

        await read()  # an unknown quest is refused before anything is followed
        async for frame in state_on_change(info.context, member_topic(member), read):
            yield frame
