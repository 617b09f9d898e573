"""What the games' mutations and subscriptions share."""

from __future__ import annotations

from app.games.crowdfunding import Pledged
from app.graphql.core.context import Context
from app.graphql.games.types import CampaignNode, PledgeNode, PledgePayload
from app.graphql.ledger.resolvers import balance_after_write


async def pledge_payload(ctx: Context, member_id: int, pledged: Pledged) -> PledgePayload:
    return PledgePayload(
        pledge=PledgeNode.of(pledged.pledge),
        campaign=CampaignNode.of(pledged.campaign),
        replayed=pledged.replayed,
        balance=await balance_after_write(ctx, member_id),
    )
