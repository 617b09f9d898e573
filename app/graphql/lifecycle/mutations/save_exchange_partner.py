"""saveExchangePartner: create or change a coalition partner, with its account."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.lifecycle.inputs import ExchangePartnerInput
from app.graphql.lifecycle.types import ExchangePartnerNode, ExchangePartnerPayload
from app.lifecycle import exchange


@mutation("Create or change a coalition partner (by code), with its account.")
async def save_exchange_partner(call: Call, input: ExchangePartnerInput) -> ExchangePartnerPayload:
    terms = exchange.PartnerTerms(
        code=input.code,
        name=input.name,
        rate_in=input.rate_in,
        rate_out=input.rate_out,
        min_points=input.min_points,
        max_points=input.max_points,
        daily_limit=input.daily_limit,
        enabled=input.enabled,
    )
    saved = await exchange.save_partner(call.runtime, call.actor, terms)
    return ExchangePartnerPayload(partner=ExchangePartnerNode.of(saved))
