"""Whose a hold or an entry is, for the permission check on a mutation that names one by id:
partners settle only holds (and reverse only entries) their channel created; staff any (the
ledger answers NOT_FOUND itself).
"""

from __future__ import annotations

from app.auth.permissions import Subject
from app.graphql.core.context import Context
from app.ledger import usecases


async def hold_owner(ctx: Context, hold_id: int) -> Subject:
    hold = await usecases.get_hold(ctx.runtime, hold_id)
    return Subject.created_by(hold.member_id, hold.created_by_channel)


async def entry_owner(ctx: Context, entry_id: int) -> Subject:
    entry = await usecases.get_entry(ctx.runtime, entry_id)
    return Subject.created_by(entry.member_id, entry.created_by_channel)
