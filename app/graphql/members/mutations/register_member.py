"""registerMember: register a member from a channel, or find it again."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.members.inputs import RegisterMemberInput
from app.graphql.members.types import MemberNode, MemberRegistered
from app.members import usecases


@mutation("Register a member from a channel (or find it again).")
async def register_member(call: Call, input: RegisterMemberInput) -> MemberRegistered:
    call.on_channel(input.channel)
    registration = await usecases.register_member(
        call.runtime,
        channel=input.channel,
        external_ref=input.external_ref,
        name=input.name,
        phone=input.phone,
        birthday=input.birthday,
    )
    return MemberRegistered(
        member=MemberNode(model=registration.member), created=registration.created
    )
