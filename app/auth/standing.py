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
reads the member no second time (docs/PERFORMANCE.md).

An HTTP GraphQL request reads it after parsing, not before (:func:`standing_later`,
app/graphql/core/standing.py): so that a mutation declared ``gate_first`` — a flash sale's
``placeRedemption``, whose Redis gate refuses most buyers — can refuse without any database
round trip, and read the standing only for the buyers the gate lets through.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from app.auth.principal import Principal, PrincipalKind
from app.db import one_statement_read
from app.errors import DomainError, ErrorCode
from app.members.models import MemberStatus
from app.members.service import member_of_row
from app.members.tables import members
from app.runtime import Runtime


def standing_later(principal: Principal) -> Principal:
    """The principal with its standing left for the GraphQL layer to read (a member's only)."""
    return replace(principal, standing_pending=principal.kind is PrincipalKind.MEMBER)


async def in_standing(rt: Runtime, principal: Principal) -> Principal:
    """The principal as its account stands now; staff and partners pass unchanged."""
    if principal.kind is not PrincipalKind.MEMBER:
        return principal
    async with one_statement_read(rt.engine) as conn:
        row = (
            await conn.execute(select(members).where(members.c.id == principal.member_id))
        ).first()
    if row is None:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "the token's member does not exist")
    member = member_of_row(row)
    if member.status is MemberStatus.CLOSED:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "the member's account is closed")
    return replace(
        principal,
        read_only=member.status is MemberStatus.FROZEN,
        member_row=member,
        standing_pending=False,
    )
