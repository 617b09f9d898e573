"""recordRefund: refund all or part of an order, clawing back what it earned."""

from __future__ import annotations

from app.earning import usecases
from app.earning.commands import RecordRefund, RefundLineInput
from app.graphql.core.mutations import Call, mutation
from app.graphql.earning.inputs import RecordRefundInput
from app.graphql.earning.types import PurchaseNode, RefundRecorded, entry_node
from app.graphql.ledger.resolvers import balance_after_write


@mutation("Refund all or part of an order: claws back what the refunded part earned.")
async def record_refund(call: Call, input: RecordRefundInput) -> RefundRecorded:
    call.on_channel(input.channel)
    result = await usecases.record_refund(
        call.runtime,
        call.actor,
        RecordRefund(
            channel=input.channel,
            order_id=input.order_id,
            refund_id=input.refund_id,
            lines=None
            if input.lines is None
            else [RefundLineInput(x.line_no, x.amount) for x in input.lines],
            amount=input.amount,
        ),
    )
    return RefundRecorded(
        refund_id=input.refund_id,
        amount=result.amount,
        points_clawed_back=result.points,
        purchase=PurchaseNode.of(result.purchase),
        entry=entry_node(result.entry),
        replayed=result.replayed,
        balance=await balance_after_write(call.ctx, result.purchase.member_id),
    )
