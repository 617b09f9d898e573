"""grantDrawTicket: a free draw (rewards, campaigns), idempotent on sourceRef."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.mall.inputs import GrantDrawTicketInput
from app.graphql.mall.types import DrawTicketPayload, TicketNode
from app.mall import lottery


@mutation("Grant a free draw (rewards, campaigns); idempotent on sourceRef.")
async def grant_draw_ticket(call: Call, input: GrantDrawTicketInput) -> DrawTicketPayload:
    member = await call.member(input.member_id)
    ticket = await lottery.grant_ticket(call.runtime, member, input.pool_code, input.source_ref)
    return DrawTicketPayload(ticket=TicketNode.of(ticket), created=ticket.created)
