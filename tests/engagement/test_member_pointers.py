"""A referral's referrer and a team's captain name a member with no foreign key (migration 0050:
under Citus the member is on a shard the referral or the team cannot reach by a key). The
services refuse an unknown member; the audit reports a pointer that no longer names one."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.engagement import usecases
from app.engagement.demo import seed_engagement
from app.engagement.tables import teams
from app.errors import DomainError, ErrorCode
from app.runtime import Runtime
from tests.engagement.conftest import STAFF, NewMember, actor_of
from tests.mall.test_audit import corrupt, failed_checks


async def test_a_referral_whose_referrer_is_no_member_is_reported(
    runtime: Runtime, new_member: NewMember
) -> None:
    referrer, friend = await new_member("r"), await new_member("f")
    code = await usecases.issue_invite_code(runtime, referrer)
    await usecases.accept_invite(runtime, actor_of(friend), friend, code)
    assert await failed_checks(runtime) == set()
    await corrupt(runtime, "UPDATE referrals SET referrer_id = referrer_id + 1000000")
    assert await failed_checks(runtime) == {"a referral's referrer is a member"}


async def test_a_team_captain_is_a_member_of_the_team_and_an_unknown_one_is_refused(
    runtime: Runtime, new_member: NewMember
) -> None:
    await seed_engagement(runtime, STAFF)
    a, b = await new_member("a"), await new_member("b")
    with pytest.raises(DomainError) as unknown:
        await usecases.create_team(runtime, STAFF, "team-spend", 999_999, "Nobody's")
    assert unknown.value.code is ErrorCode.NOT_FOUND
    async with runtime.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(teams)) == 0
    await usecases.create_team(runtime, actor_of(a), "team-spend", a, "Early birds")
    assert await failed_checks(runtime) == set()
    await corrupt(runtime, f"UPDATE teams SET captain_id = {b}")  # a member, not in the team
    assert await failed_checks(runtime) == {"a team's captain is one of its members"}
    await corrupt(runtime, "UPDATE teams SET captain_id = 999999")
    assert await failed_checks(runtime) == {"a team's captain is one of its members"}
