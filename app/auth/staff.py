"""Staff accounts and their console sessions (docs/CONSOLE.md).

A staff member has a name, one role (admin, operator or analyst: docs/PERMISSIONS.md) and an
argon2 password hash (app/auth/passwords.py). Signing in opens a session: a random 256-bit token
that the console keeps in an HttpOnly cookie, stored here only as its SHA-256, with a fixed
expiry. Every request that carries the cookie must also carry the session's CSRF token, derived
from the session token (:func:`csrf_token`), which the console holds in memory.

Disabling an account or resetting its password ends its open sessions at once; a disabled
account's session is refused even before that (its row is read with every request).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.auth.passwords import hash_password, verify
from app.auth.principal import Principal, Role
from app.auth.tables import staff, staff_sessions
from app.errors import DomainError, ErrorCode, invalid

NAME_SHAPE = re.compile(r"[\w.@-]{1,64}")
# What new_session issues: token_urlsafe(32) is 43 characters. Anything else is refused unread.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
WRONG_CREDENTIALS = "wrong name or password"
CSRF_REFUSED = "the console's CSRF token is missing or wrong"


@dataclass(frozen=True)
class StaffSession:
    token: str  # for the cookie only; never shown to script
    csrf: str
    principal: Principal
    expires_at: datetime


@dataclass(frozen=True)
class StaffAccount:
    name: str
    role: Role
    disabled: bool


class WrongPassword(DomainError):
    """Sign-in refused; the reason (no such name, wrong password, disabled) is logged only."""

    def __init__(self, reason: str) -> None:
        super().__init__(ErrorCode.UNAUTHENTICATED, WRONG_CREDENTIALS)
        self.reason = reason


def check_name(name: str) -> None:
    if not NAME_SHAPE.fullmatch(name):
        raise invalid("a staff name is 1..64 letters, digits, '.', '_', '@' or '-'", "name")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session: a keyed hash of its token. Script on another site can neither
    read the cookie nor compute this; the console gets it from the sign-in answer."""
    return hmac.new(session_token.encode(), b"jifen console csrf", hashlib.sha256).hexdigest()


def csrf_matches(session_token: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(csrf_token(session_token), presented)


async def create_staff(conn: AsyncConnection, name: str, role: Role, password: str) -> None:
    check_name(name)
    hashed = hash_password(password)
    inserted = await conn.execute(
        insert(staff)
        .values(name=name, role=role.value, password_hash=hashed)
        .on_conflict_do_nothing(index_elements=[staff.c.name])
        .returning(staff.c.id)
    )
    if inserted.first() is None:
        raise DomainError(ErrorCode.ALREADY_EXISTS, f"staff {name!r} exists", "name")


async def ensure_staff(conn: AsyncConnection, name: str, role: Role, password: str) -> None:
    """The account as given unless one of that name exists (the demo's admin)."""
    try:
        await create_staff(conn, name, role, password)
    except DomainError as error:
        if error.code is not ErrorCode.ALREADY_EXISTS:
            raise


async def _end_sessions(conn: AsyncConnection, staff_id: int) -> None:
    await conn.execute(
        staff_sessions.update()
        .where(staff_sessions.c.staff_id == staff_id, staff_sessions.c.ended_at.is_(None))
        .values(ended_at=func.now())
    )


async def disable_staff(conn: AsyncConnection, name: str) -> bool:
    """True when an enabled account was disabled (its sessions end); False when none was."""
    row = (
        await conn.execute(
            staff.update()
            .where(staff.c.name == name, staff.c.disabled_at.is_(None))
            .values(disabled_at=func.now())
            .returning(staff.c.id)
        )
    ).first()
    if row is None:
        return False
    await _end_sessions(conn, row.id)
    return True


async def reset_password(conn: AsyncConnection, name: str, password: str) -> bool:
    """True when the account exists; its open sessions end (a leaked password stops working)."""
    hashed = hash_password(password)
    row = (
        await conn.execute(
            staff.update()
            .where(staff.c.name == name)
            .values(password_hash=hashed, password_changed_at=func.now())
            .returning(staff.c.id)
        )
    ).first()
    if row is None:
        return False
    await _end_sessions(conn, row.id)
    return True


async def staff_account(conn: AsyncConnection, name: str) -> StaffAccount | None:
    row = (
        await conn.execute(select(staff.c.role, staff.c.disabled_at).where(staff.c.name == name))
    ).first()
    if row is None:
        return None
    return StaffAccount(name, Role(row.role), row.disabled_at is not None)


async def check_password(conn: AsyncConnection, name: str, password: str) -> Principal:
    """The staff member these credentials name; :class:`WrongPassword` otherwise. Costs one
    argon2 verification whatever the outcome, so its time does not tell which names exist."""
    row = (
        await conn.execute(
            select(staff.c.id, staff.c.role, staff.c.password_hash, staff.c.disabled_at).where(
                staff.c.name == name
            )
        )
    ).first()
    # argon2 is made to be slow (tens of milliseconds): off the event loop.
    verified = await asyncio.to_thread(
        verify, row.password_hash if row is not None else None, password
    )
    if row is None:
        raise WrongPassword("no such staff")
    if not verified.ok:
        raise WrongPassword("wrong password")
    if row.disabled_at is not None:
        raise WrongPassword("account disabled")
    if verified.rehash:
        await conn.execute(
            staff.update()
            .where(staff.c.id == row.id)
            .values(password_hash=await asyncio.to_thread(hash_password, password))
        )
    return Principal.staff(name, {Role(row.role)})


async def open_session(
    conn: AsyncConnection, principal: Principal, *, now: datetime, ttl_seconds: int
) -> StaffSession:
    token = secrets.token_urlsafe(32)
    expires_at = now + timedelta(seconds=ttl_seconds)
    staff_id = select(staff.c.id).where(staff.c.name == principal.staff_name).scalar_subquery()
    await conn.execute(
        staff_sessions.insert().values(
            token_hash=_hash(token), staff_id=staff_id, created_at=now, expires_at=expires_at
        )
    )
    return StaffSession(
        token, csrf_token(token), replace(principal, expires_at=expires_at), expires_at
    )


async def session_principal(conn: AsyncConnection, token: str, now: datetime) -> Principal:
    """The staff member a live session belongs to; UNAUTHENTICATED when it is unknown, ended,
    expired or its account disabled."""
    if not _TOKEN_SHAPE.fullmatch(token):
        raise DomainError(ErrorCode.UNAUTHENTICATED, "the console session is malformed")
    row = (
        await conn.execute(
            select(
                staff.c.name,
                staff.c.role,
                staff.c.disabled_at,
                staff_sessions.c.expires_at,
                staff_sessions.c.ended_at,
            )
            .join(staff, staff.c.id == staff_sessions.c.staff_id)
            .where(staff_sessions.c.token_hash == _hash(token))
        )
    ).first()
    if row is None or row.ended_at is not None or row.disabled_at is not None:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "the console session has ended; sign in")
    if row.expires_at <= now:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "the console session has expired; sign in")
    return replace(Principal.staff(row.name, {Role(row.role)}), expires_at=row.expires_at)


async def end_session(conn: AsyncConnection, token: str) -> None:
    await conn.execute(
        staff_sessions.update()
        .where(staff_sessions.c.token_hash == _hash(token), staff_sessions.c.ended_at.is_(None))
        .values(ended_at=func.now())
    )
