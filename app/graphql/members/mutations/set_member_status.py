"""setMemberStatus: freeze, close or reactivate a member."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.members.inputs import SetMemberStatusInput
from app.graphql.members.types import MemberNode, MemberPayload
from app.members import usecases


@mutation("Freeze, close or reactivate a member (staff).")
async def set_member_status(call: Call, input: SetMemberStatusInput) -> MemberPayload:
    member_id = await call.member(input.member_id)
    member = await usecases.set_status(
        call.runtime,
        member_id=member_id,
        status=input.status,
        reason=input.reason,
        actor=call.ctx.principal.name,
    )
    call.ctx.loaders.forget_member(member_id)
    return MemberPayload(member=MemberNode(model=member))
