"""A member's token is only as good as the member's account.

A token is signed once and lives until it expires, but the account it names can be frozen or
closed in the meantime. Each time a member's credential is presented (an HTTP request, a
WebSocket ``connection_init``) the account's status is read, one primary-key look-up:

- closed, or no such member: the credential is refused (``UNAUTHENTICATED``), as a wrong token;
- frozen: the member may still read (balance, history, notifications…) but not change anything,
  :func:`app.auth.permissions.require` refuses every write with ``MEMBER_NOT_ACTIVE``;
- active: as issued.

The look-up reads the whole row (the same primary-key read, a few columns more): the principal
carries it, and an HTTP request's GraphQL context primes its member loader with it, so ``me``
reads the member no second time (docs/PERFORMANCE.md). Asked ``with_balance`` (a member's query
that may show the balance, when every balance is read from the primary anyway), the same
statement reads the member's balance too, and ``me { balance }`` is one statement on one
connection (docs/DECISIONS.md, "The write path"). The statement goes to the driver prepared,
without the Core: every member request pays it.

An HTTP GraphQL request reads it after parsing, not before (:func:`standing_later`,
app/graphql/core/standing.py): so that a mutation declared ``gate_first`` — a flash sale's
``placeRedemption``, whose Redis gate refuses most buyers — can refuse without any database
round trip, and read the standing only for the buyers the gate lets through.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from app.auth.principal import Principal, PrincipalKind
from app.db import MAX_ID, autocommit_fetch, one_statement_read
from app.errors import DomainError, ErrorCode
from app.ledger.queries import BALANCE_COLUMNS, MEMBER_BALANCE_JOIN, balance_of_record
from app.members.models import MemberStatus
from app.members.service import member_of_row
from app.runtime import Runtime

MEMBER_COLUMNS = (
    "m.id, m.status, m.status_reason, m.name, m.phone, m.birthday, m.timezone, m.tags, m.created_at"
)
STANDING = f"SELECT {MEMBER_COLUMNS} FROM members AS m WHERE m.id = $1"
# $1 is the time the balance is taken at (BALANCE_OF_ACCOUNT's), $2 the member. A member
# without an account yet reads no balance (the loader answers as it would).
STANDING_WITH_BALANCE = f"""
SELECT {MEMBER_COLUMNS}, a.id AS account_id, {BALANCE_COLUMNS}
FROM members AS m
{MEMBER_BALANCE_JOIN.strip()}
WHERE m.id = $2
"""


def standing_later(principal: Principal) -> Principal:
    """The principal with its standing left for the GraphQL layer to read (a member's only)."""
    return replace(principal, standing_pending=principal.kind is PrincipalKind.MEMBER)


async def in_standing(
    rt: Runtime, principal: Principal, *, with_balance: bool = False
) -> Principal:
    """The principal as its account stands now; staff and partners pass unchanged. With
    ``with_balance``, the principal carries the member's balance as of now too."""
    if principal.kind is not PrincipalKind.MEMBER:
        return principal
    member_id = principal.member_id or 0
    row = await _standing_row(rt, member_id, with_balance) if 0 < member_id <= MAX_ID else None
    if row is None:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "the token's member does not exist")
    member = member_of_row(row)
    if member.status is MemberStatus.CLOSED:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "the member's account is closed")
    return replace(
        principal,
        read_only=member.status is MemberStatus.FROZEN,
        member_row=member,
        member_balance=(
            balance_of_record(row) if with_balance and row["account_id"] is not None else None
        ),
        standing_pending=False,
    )


async def _standing_row(rt: Runtime, member_id: int, with_balance: bool) -> Any:
    async with one_statement_read(rt.engine) as conn:
        if with_balance:
            rows = await autocommit_fetch(
                conn, STANDING_WITH_BALANCE, rt.clock.now(), member_id, writes=False
            )
        else:
            rows = await autocommit_fetch(conn, STANDING, member_id, writes=False)
    return rows[0] if rows else None
