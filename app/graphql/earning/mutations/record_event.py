"""recordEvent: a behaviour or custom event, earning by the event rules."""

from __future__ import annotations

from app.earning import usecases
from app.earning.commands import RecordEvent
from app.graphql.core.inputs import aware
from app.graphql.core.mutations import Call, mutation
from app.graphql.earning.breakdown import PointsBreakdown
from app.graphql.earning.inputs import RecordEventInput
from app.graphql.earning.types import EventRecorded, entry_node
from app.graphql.ledger.resolvers import balance_after_write


@mutation("Record a behaviour or custom event (sign-in, share, calories run, …).")
async def record_event(call: Call, input: RecordEventInput) -> EventRecorded:
    member_id = await call.channel_member(input.member_id, input.channel)
    result = await usecases.record_event(
        call.runtime,
        call.actor,
        RecordEvent(
            member_id=member_id,
            channel=input.channel,
            event_id=input.event_id,
            name=input.name,
            quantity=input.quantity,
            occurred_at=aware(input.occurred_at, "occurredAt"),
        ),
    )
    return EventRecorded(
        points=result.points,
        breakdown=PointsBreakdown.of(result.breakdown),
        entry=entry_node(result.entry),
        replayed=result.replayed,
        balance=await balance_after_write(call.ctx, member_id),
    )
