"""The account doors: opening and locking a member's account, programme accounts."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.db import unit_of_work
from app.errors import DomainError, ErrorCode
from app.ledger.accounts import (
    ensure_programme_account,
    lock_account,
    member_status,
    open_programme_account,
    programme_account_id,
)
from app.ledger.tables import programme_accounts
from app.members import usecases as members
from app.members.models import MemberStatus
from app.runtime import Runtime


async def test_registration_opens_the_members_account_and_its_lock_reads_it(runtime: Runtime):
    member = (await members.register_member(runtime, channel="test", external_ref="m")).member.id
    async with unit_of_work(runtime.engine) as conn:
        lock = await lock_account(conn, member)
        assert (lock.row.member_id, lock.row.kind, lock.row.code) == (
            member,
            "member",
            f"member:{member}",
        )
        assert (lock.row.available, lock.row.pending, lock.row.held, lock.row.debt) == (0, 0, 0, 0)
        assert lock.status is None and not lock.used  # the caller reads the status, if it needs it
        assert await member_status(conn, member) is MemberStatus.ACTIVE


async def test_an_unknown_member_has_no_account_to_lock(runtime: Runtime):
    async with unit_of_work(runtime.engine) as conn:
        with pytest.raises(DomainError) as refused:
            await lock_account(conn, 10**9)
    assert (refused.value.code, refused.value.field) == (ErrorCode.NOT_FOUND, "memberId")


async def test_a_programme_account_is_opened_once(runtime: Runtime):
    async with unit_of_work(runtime.engine) as conn:
        assert await programme_account_id(conn, "partner:test") is None
        opened = await open_programme_account(conn, "partner", "partner:test")
        assert opened is not None
        assert await open_programme_account(conn, "partner", "partner:test") is None  # taken
        assert await ensure_programme_account(conn, "partner", "partner:test") == opened
        assert await ensure_programme_account(conn, "clearing", "test-clearing") not in (
            None,
            opened,
        )
        count = await conn.scalar(
            select(func.count()).where(
                programme_accounts.c.code.in_(["partner:test", "test-clearing"])
            )
        )
    assert count == 2
