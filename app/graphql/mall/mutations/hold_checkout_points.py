"""holdCheckoutPoints: hold points toward a channel's order (抵现)."""

from __future__ import annotations

from app.auth.principal import PrincipalKind
from app.graphql.core.inputs import parse_id
from app.graphql.core.mutations import Call, mutation
from app.graphql.mall.inputs import HoldCheckoutPointsInput
from app.graphql.mall.resolvers import payment_payload
from app.graphql.mall.types import CheckoutPaymentPayload
from app.mall import checkout


@mutation(
    "Hold points toward a channel's order (抵现); commit or void it later.",
    result="CheckoutPaymentResult",
)
async def hold_checkout_points(
    call: Call, input: HoldCheckoutPointsInput
) -> CheckoutPaymentPayload:
    member = parse_id(input.member_id, "memberId")
    if call.ctx.principal.kind is PrincipalKind.PARTNER:
        call.on_channel(input.channel, member)
    await call.ctx.require_on_member(call.operation, member)
    payment, replayed = await checkout.hold_for_checkout(
        call.runtime,
        call.actor,
        member_id=member,
        channel=input.channel,
        order_ref=input.order_ref,
        basket=input.amount,
        points=input.points,
        quoted_value=input.quoted_value,
    )
    return await payment_payload(call.ctx, payment, replayed=replayed)
