"""linkChannelRef: one more channel ref for an existing member."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.members.inputs import LinkChannelRefInput
from app.graphql.members.types import MemberNode, MemberPayload
from app.members import usecases


@mutation("Link one more channel ref to an existing member.")
async def link_channel_ref(call: Call, input: LinkChannelRefInput) -> MemberPayload:
    member_id = await call.member(input.member_id)
    member = await usecases.link_channel_ref(
        call.runtime,
        member_id=member_id,
        channel=input.channel,
        external_ref=input.external_ref,
    )
    call.ctx.loaders.forget_member(member_id)
    return MemberPayload(member=MemberNode(model=member))
