"""A member's token is only as good as the member's account.

A token is signed once and lives until it expires, but the account it names can be frozen or
closed in the meantime. Each time a member's credential is presented (an HTTP request, a
WebSocket ``connection_init``) the account's status is read, one primary-key look-up:

- closed, or no such member: the credential is refused (``UNAUTHENTICATED``), as a wrong token;
- frozen: the member may still read (balance, history, notifications…) but not change anything,
  :func:`app.auth.permissions.require` refuses every write with ``MEMBER_NOT_ACTIVE``;
- active: as issued.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from app.auth.principal import Principal, PrincipalKind
from app.db import one_statement_read
from app.errors import DomainError, ErrorCode
from app.members.models import MemberStatus
from app.members.tables import members
from app.runtime import Runtime


async def in_standing(rt: Runtime, principal: Principal) -> Principal:
    """The principal as its account stands now; staff and partners pass unchanged."""
    if principal.kind is not PrincipalKind.MEMBER:
        return principal
    async with one_statement_read(rt.engine) as conn:
        status = (
            await conn.execute(select(members.c.status).where(members.c.id == principal.member_id))
        ).scalar_one_or_none()
    if status is None:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "the token's member does not exist")
    if status == MemberStatus.CLOSED.value:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "the member's account is closed")
    return replace(principal, read_only=status == MemberStatus.FROZEN.value)
