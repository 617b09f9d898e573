"""updateMemberProfile: change profile fields; who edits decides which facts may change."""

from __future__ import annotations

from app.auth.principal import PrincipalKind
from app.graphql.core.mutations import Call, mutation
from app.graphql.members.inputs import UpdateMemberProfileInput
from app.graphql.members.types import MemberNode, MemberPayload
from app.members import usecases
from app.members.service import ProfileChanges, ProfileEditor

# Who edits a profile decides which facts it may change (app/members/service.py).
PROFILE_EDITORS = {
    PrincipalKind.MEMBER: ProfileEditor.MEMBER,
    PrincipalKind.PARTNER: ProfileEditor.CHANNEL,
    PrincipalKind.STAFF: ProfileEditor.STAFF,
    PrincipalKind.ANONYMOUS: ProfileEditor.MEMBER,  # refused before; the narrowest if not
}


@mutation("Change profile fields; omitted ones stay.")
async def update_member_profile(call: Call, input: UpdateMemberProfileInput) -> MemberPayload:
    member_id = await call.member(input.member_id)
    changes = ProfileChanges(
        name=input.name,
        phone=input.phone,
        birthday=input.birthday,
        timezone=input.timezone,
        tags=None if input.tags is None else tuple(input.tags),
    )
    member = await usecases.update_profile(
        call.runtime, member_id, changes, PROFILE_EDITORS[call.ctx.principal.kind]
    )
    call.ctx.loaders.forget_member(member_id)
    return MemberPayload(member=MemberNode(model=member))
