"""exchangePoints: convert points with a coalition partner, idempotent on the partner's ref."""

from __future__ import annotations

from app.auth.principal import PrincipalKind
from app.errors import DomainError, ErrorCode
from app.graphql.core.mutations import Call, mutation
from app.graphql.ledger.resolvers import balance_after_write
from app.graphql.lifecycle.inputs import ExchangePointsInput
from app.graphql.lifecycle.types import ExchangeNode, ExchangePayload
from app.lifecycle import exchange


@mutation(
    "Convert points with a coalition partner, in or out, idempotent on the partner's ref.",
    result="ExchangeResult",
)
async def exchange_points(call: Call, input: ExchangePointsInput) -> ExchangePayload:
    member = await call.member(input.member_id)
    principal = call.ctx.principal
    if principal.kind is PrincipalKind.PARTNER and principal.channel != input.partner_code:
        raise DomainError(ErrorCode.FORBIDDEN, "a partner exchanges only under its own code")
    done = await exchange.exchange_points(
        call.runtime,
        call.actor,
        partner_code=input.partner_code,
        partner_ref=input.partner_ref,
        direction=input.direction,
        member_id=member,
        amount=input.amount,
    )
    balance = await balance_after_write(call.ctx, member)
    return ExchangePayload(exchange=ExchangeNode.of(done), balance=balance)
