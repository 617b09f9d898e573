"""commitCheckout: the payment went through; the held points are spent."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.mall.guards import payment_owner
from app.graphql.mall.inputs import CheckoutPaymentIdInput
from app.graphql.mall.resolvers import payment_payload
from app.graphql.mall.types import CheckoutPaymentPayload
from app.mall import checkout


@mutation("The payment went through: the held points are spent.", result="CheckoutPaymentResult")
async def commit_checkout(call: Call, input: CheckoutPaymentIdInput) -> CheckoutPaymentPayload:
    payment_id = await call.target(input.payment_id, "paymentId", payment_owner)
    payment = await checkout.settle_checkout(call.runtime, call.actor, payment_id, commit=True)
    return await payment_payload(call.ctx, payment)
