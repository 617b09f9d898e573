"""What the mall's writes answer with: the order or payment as written, the balance after."""

from __future__ import annotations

from app.graphql.core.context import Context
from app.graphql.ledger.resolvers import balance_after_write
from app.graphql.mall.types import (
    CheckoutPaymentNode,
    CheckoutPaymentPayload,
    MallItemNode,
    RedemptionNode,
    RedemptionPayload,
)
from app.mall.checkout import CheckoutPayment
from app.mall.policy import Item
from app.mall.redemptions import Order


async def redemption_payload(
    ctx: Context, order: Order, *, replayed: bool = False
) -> RedemptionPayload:
    return RedemptionPayload(
        redemption=RedemptionNode.of(order),
        balance=await balance_after_write(ctx, order.member_id),
        replayed=replayed,
    )


async def payment_payload(
    ctx: Context, payment: CheckoutPayment, *, replayed: bool = False
) -> CheckoutPaymentPayload:
    return CheckoutPaymentPayload(
        payment=CheckoutPaymentNode.of(payment),
        balance=await balance_after_write(ctx, payment.member_id),
        replayed=replayed,
    )


def item_node(ctx: Context, item: Item) -> MallItemNode:
    return MallItemNode(item=item, now=ctx.runtime.clock.now())
