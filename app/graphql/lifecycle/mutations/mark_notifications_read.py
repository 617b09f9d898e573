"""markNotificationsRead: mark some, or all, of a member's notifications read."""

from __future__ import annotations

from app.graphql.core.inputs import parse_id
from app.graphql.core.mutations import Call, mutation
from app.graphql.lifecycle.inputs import MarkNotificationsReadInput
from app.graphql.lifecycle.types import NotificationsMarked
from app.lifecycle import notifications as notes


@mutation("Mark a member's notifications read (some, or all).")
async def mark_notifications_read(
    call: Call, input: MarkNotificationsReadInput
) -> NotificationsMarked:
    member = (await call.readable_member(input.member_id)).id
    ids = None if input.ids is None else [parse_id(str(i), "ids") for i in input.ids]
    marked, unread = await notes.mark_read(call.runtime, member, ids)
    return NotificationsMarked(marked=marked, unread_count=unread)
