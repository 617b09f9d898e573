"""recordPurchase: an order, earning by the rules (pending for the return window)."""

from __future__ import annotations

from app.earning import usecases
from app.earning.commands import RecordPurchase
from app.graphql.core.inputs import aware
from app.graphql.core.mutations import Call, mutation
from app.graphql.earning.inputs import RecordPurchaseInput, purchase_lines
from app.graphql.earning.types import PurchaseNode, PurchaseRecorded, entry_node
from app.graphql.ledger.resolvers import balance_after_write
from app.graphql.tiers.types import TierChangeNode


@mutation("Record an order: earns by the rules, pending for the return window.")
async def record_purchase(call: Call, input: RecordPurchaseInput) -> PurchaseRecorded:
    member_id = await call.channel_member(input.member_id, input.channel)
    result = await usecases.record_purchase(
        call.runtime,
        call.actor,
        RecordPurchase(
            member_id=member_id,
            channel=input.channel,
            order_id=input.order_id,
            lines=purchase_lines(input.lines),
            occurred_at=aware(input.occurred_at, "occurredAt"),
        ),
    )
    change = result.tier_change
    return PurchaseRecorded(
        purchase=PurchaseNode.of(result.purchase),
        entry=entry_node(result.entry),
        tier_change=None if change is None else TierChangeNode.of_change(change),
        replayed=result.replayed,
        balance=await balance_after_write(call.ctx, member_id),
    )
