"""A member's standing read (app/auth/standing.py): the balance only when asked for, and an
unknown member refused whether or not the balance is asked for. That the balance it reads is the
ledger's is tested beside the ledger's own reads (tests/ledger/test_service.py)."""

from __future__ import annotations

import pytest

from app.auth.principal import Principal
from app.auth.standing import in_standing
from app.errors import DomainError, ErrorCode
from app.members import usecases as members
from app.runtime import Runtime


async def test_without_the_balance_the_standing_carries_none(runtime: Runtime) -> None:
    member = await members.register_member(runtime, channel="test", external_ref="plain")
    standing = await in_standing(runtime, Principal.member(member.member.id))
    assert standing.member_balance is None and standing.member_row == member.member
    with_balance = await in_standing(runtime, Principal.member(member.member.id), with_balance=True)
    assert with_balance.member_balance is not None and with_balance.member_balance.total == 0


async def test_an_unknown_member_is_refused_with_or_without_the_balance(runtime: Runtime) -> None:
    for with_balance in (False, True):
        for member_id in (10**12, 2**63):  # past any id, and past what a BIGINT holds
            with pytest.raises(DomainError) as refused:
                await in_standing(runtime, Principal.member(member_id), with_balance=with_balance)
            assert refused.value.code is ErrorCode.UNAUTHENTICATED
