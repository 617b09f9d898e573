"""Whose an order or a checkout payment is, for the permission check on a mutation that names
one by id: a member acts only on its own, a partner on its channel's.
"""

from __future__ import annotations

from app.auth.permissions import Subject
from app.graphql.core.context import Context
from app.mall import checkout
from app.mall import usecases as redemptions


async def order_owner(ctx: Context, order_id: int) -> Subject:
    order = await redemptions.get_order(ctx.runtime, order_id)
    return await ctx.member_subject(order.member_id)


async def payment_owner(ctx: Context, payment_id: int) -> Subject:
    payment = await checkout.get_payment(ctx.runtime, payment_id)
    return Subject(payment.member_id, frozenset({payment.channel}))
