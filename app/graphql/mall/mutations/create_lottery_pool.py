"""createLotteryPool: a lottery, blind box or prize wheel."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.mall.inputs import CreateLotteryPoolInput
from app.graphql.mall.types import LotteryPoolPayload, PoolNode
from app.mall import lottery
from app.mall.lottery import PoolSpec, PrizeSpec


@mutation("Create a lottery, blind box or prize wheel (staff).", result="LotteryPoolResult")
async def create_lottery_pool(call: Call, input: CreateLotteryPoolInput) -> LotteryPoolPayload:
    spec = PoolSpec(
        code=input.code,
        name=input.name,
        kind=input.kind,
        cost_points=input.cost_points,
        prizes=tuple(
            PrizeSpec(p.code, p.name, p.kind, p.weight, p.points, p.stock) for p in input.prizes
        ),
        fallback_prize_code=input.fallback_prize_code,
    )
    return LotteryPoolPayload(pool=PoolNode.of(await lottery.create_pool(call.runtime, spec)))
