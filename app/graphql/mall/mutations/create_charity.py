"""createCharity: a programme account donations go to."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.mall.inputs import CreateCharityInput
from app.graphql.mall.types import CharityNode, CharityPayload
from app.mall import donations


@mutation(
    "Register a charity: a programme account donations go to (staff).", result="CharityResult"
)
async def create_charity(call: Call, input: CreateCharityInput) -> CharityPayload:
    charity = await donations.create_charity(call.runtime, input.code, input.name)
    return CharityPayload(charity=CharityNode.of(charity))
