"""What a write answers with: the entry or hold it posted and the balance right after."""

from __future__ import annotations

from app.graphql.core.context import Context
from app.graphql.ledger.types import BalanceNode, EntryNode, HoldNode, HoldPayload, PointsPosted
from app.ledger import posted
from app.ledger.models import Entry, Hold


async def balance_after_write(ctx: Context, member_id: int) -> BalanceNode:
    """The balance a write's answer shows: as the write's own transaction left it, so a
    committed write is never answered with an error by a re-read failing after the commit.
    Only an idempotent replay (nothing written now) reads it, as of now."""
    ctx.loaders.forget_member(member_id)
    written = posted.take(member_id)
    if written is not None:
        return BalanceNode.of(written)
    return BalanceNode.of(await ctx.loaders.balance.load(member_id))


async def points_posted(ctx: Context, entry: Entry) -> PointsPosted:
    return PointsPosted(
        entry=EntryNode.of(entry), balance=await balance_after_write(ctx, entry.member_id)
    )


async def hold_payload(ctx: Context, hold: Hold) -> HoldPayload:
    return HoldPayload(
        hold=HoldNode.of(hold), balance=await balance_after_write(ctx, hold.member_id)
    )
