"""drawLottery: draw once, for points or a free-draw ticket."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.ledger.resolvers import balance_after_write
from app.graphql.mall.inputs import DrawLotteryInput
from app.graphql.mall.types import DrawNode, DrawPayload
from app.mall import lottery


@mutation("Draw once: costs points or a free-draw ticket.")
async def draw_lottery(call: Call, input: DrawLotteryInput) -> DrawPayload:
    member = await call.member(input.member_id)
    draw = await lottery.draw(
        call.runtime,
        call.actor,
        member_id=member,
        pool_code=input.pool_code,
        use_ticket=input.use_ticket,
        idempotency_key=input.idempotency_key,
    )
    return DrawPayload(draw=DrawNode.of(draw), balance=await balance_after_write(call.ctx, member))
