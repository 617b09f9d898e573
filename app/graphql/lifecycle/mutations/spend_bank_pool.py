"""spendBankPool: staff spend the points bank's pool on charity matching or a prize."""

from __future__ import annotations

from app.graphql.core.inputs import parse_id
from app.graphql.core.mutations import Call, mutation
from app.graphql.lifecycle.inputs import SpendBankPoolInput
from app.graphql.lifecycle.types import BankSpendNode, BankSpendPayload, PointsBankNode
from app.lifecycle import bank


@mutation(
    "Spend the points bank's pool of expired points: matching for a charity, or a prize to a "
    "member (docs/BANK.md)."
)
async def spend_bank_pool(call: Call, input: SpendBankPoolInput) -> BankSpendPayload:
    member = None if input.member_id is None else parse_id(input.member_id, "memberId")
    spent = await bank.spend_pool(
        call.runtime,
        call.actor,
        kind=input.kind,
        points=input.points,
        reason=input.reason,
        idempotency_key=input.idempotency_key,
        charity_code=input.charity_code,
        member_id=member,
    )
    return BankSpendPayload(
        spend=BankSpendNode.of(spent), bank=PointsBankNode.of(await bank.pool(call.runtime))
    )
