"""setPointValue: change what a point is worth, from a moment on (liability uses the value in
force at each time)."""

from __future__ import annotations

from app.graphql.analytics.inputs import SetPointValueInput
from app.graphql.analytics.types import PointValueNode, PointValueSet
from app.graphql.core.mutations import Call, mutation
from app.valuation import usecases


@mutation("Change the point value (CNY per point) from effectiveFrom on (admin).")
async def set_point_value(call: Call, input: SetPointValueInput) -> PointValueSet:
    changed = await usecases.set_point_value(
        call.runtime,
        call.actor,
        input.value,
        effective_from=input.effective_from,
        reason=input.reason,
    )
    return PointValueSet(point_value=PointValueNode.of(changed))
