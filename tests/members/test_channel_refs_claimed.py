"""A channel's member ref is claimed across members in ``outside_keys`` (app/members/claims.py;
migration 0056), so ``member_channel_refs`` is keyed ``(channel, external_ref, member_id)``
(Citus) while a ref still names one member: registrations racing for it make one member, two
members linking it at once leave it with one of them, and the audit checks claim and row."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from app.errors import DomainError, ErrorCode
from app.members import usecases as members
from app.members.tables import member_channel_refs, outside_keys
from app.members.tables import members as member_rows
from app.runtime import Runtime
from tests.mall.test_audit import corrupt, failed_checks

CLAIM_CHECK = "each key from outside is claimed by the one member whose row names it"


async def _owners(runtime: Runtime) -> tuple[list[int], list[int]]:
    """The members whose row names app/42, and the member of its claim."""
    async with runtime.engine.connect() as conn:
        rows = await conn.scalars(
            select(member_channel_refs.c.member_id).where(
                member_channel_refs.c.channel == "app", member_channel_refs.c.external_ref == "42"
            )
        )
        claims = await conn.scalars(
            select(outside_keys.c.member_id).where(
                outside_keys.c.kind == "channel_ref",
                outside_keys.c.scope == "app",
                outside_keys.c.ref == "42",
            )
        )
        return list(rows), list(claims)


async def test_registrations_racing_for_one_ref_make_one_member(runtime: Runtime) -> None:
    done = await asyncio.gather(
        *(members.register_member(runtime, channel="app", external_ref="42") for _ in range(4))
    )
    assert len({r.member.id for r in done}) == 1
    assert sum(r.created for r in done) == 1
    async with runtime.engine.connect() as conn:
        assert list(await conn.scalars(select(member_rows.c.id))) == [done[0].member.id]
    assert await _owners(runtime) == ([done[0].member.id], [done[0].member.id])
    assert await failed_checks(runtime) == set()


async def test_two_members_linking_one_ref_at_once_leave_it_with_one(runtime: Runtime) -> None:
    a, b = [
        (await members.register_member(runtime, channel="pos", external_ref=ref)).member.id
        for ref in ("a", "b")
    ]
    outcomes = await asyncio.gather(
        *(
            members.link_channel_ref(runtime, member_id=m, channel="app", external_ref="42")
            for m in (a, b)
        ),
        return_exceptions=True,
    )
    # The later link either finds the ref taken (ALREADY_EXISTS) or, when both read it free,
    # loses the claim and writes nothing; no other outcome.
    refused = [o for o in outcomes if isinstance(o, DomainError)]
    assert all(o.code is ErrorCode.ALREADY_EXISTS for o in refused), outcomes
    unexpected = [o for o in outcomes if isinstance(o, BaseException) and o not in refused]
    assert len(refused) <= 1 and not unexpected, outcomes
    rows, claims = await _owners(runtime)
    assert len(rows) == 1 and rows == claims and rows[0] in (a, b)
    assert await failed_checks(runtime) == set()


async def test_the_audit_reports_a_channel_ref_not_claimed_by_its_member(
    runtime: Runtime,
) -> None:
    a = (await members.register_member(runtime, channel="app", external_ref="42")).member.id
    b = (await members.register_member(runtime, channel="pos", external_ref="b")).member.id
    assert await failed_checks(runtime) == set()
    await corrupt(runtime, f"UPDATE outside_keys SET member_id = {b} WHERE ref = '42'")
    assert await failed_checks(runtime) == {CLAIM_CHECK}
    await corrupt(runtime, f"UPDATE outside_keys SET member_id = {a} WHERE ref = '42'")
    assert await failed_checks(runtime) == set()
    await corrupt(runtime, "DELETE FROM outside_keys WHERE kind = 'channel_ref' AND ref = '42'")
    assert await failed_checks(runtime) == {CLAIM_CHECK}
