"""JWTs for members and staff (HS256, shared secret from the environment).

Subjects are ``member:<id>`` or ``staff:<name>``; staff tokens carry their roles. Partners do not
use JWTs: they use API keys (see :mod:`app.auth.apikeys`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt

from app.auth.principal import Principal, Role
from app.config import Settings
from app.db import MAX_ID
from app.errors import DomainError, ErrorCode

ALGORITHM = "HS256"
# Tokens verified, remembered by process (each caller sends its token with every request, and
# checking the signature and claims cost more than the rest of a small request's
# authentication). Keyed by the secret and issuer too; the expiry is checked on every use.
VERIFIED_TOKENS = 4096
MAX_STAFF_NAME = 64
KNOWN_ROLES = frozenset(role.value for role in Role)


def _unauthenticated(message: str) -> DomainError:
    return DomainError(ErrorCode.UNAUTHENTICATED, message)


def _secret(settings: Settings) -> str:
    if not settings.jwt_secret:
        # No secret means no token can be trusted: refuse rather than sign with a default.
        raise _unauthenticated("token authentication is not configured (JIFEN_JWT_SECRET)")
    return settings.jwt_secret


def _principal(subject: str, roles: list[str]) -> Principal:
    """Parse a subject; raises ValueError when it is not one we issue."""
    kind, _, ident = subject.partition(":")
    if kind == "member":
        member_id = int(ident)
        if not 1 <= member_id <= MAX_ID:
            raise ValueError(f"member id must be between 1 and {MAX_ID}")
        return Principal.member(member_id)
    if kind == "staff":
        if not ident or len(ident) > MAX_STAFF_NAME:
            raise ValueError(f"staff name must be 1..{MAX_STAFF_NAME} characters")
        return Principal.staff(ident, {Role(role) for role in roles})
    raise ValueError(f"subject must be member:<id> or staff:<name>, not {subject!r}")


def mint_token(
    settings: Settings,
    subject: str,
    roles: list[str],
    *,
    issued_at: datetime | None = None,
    ttl_seconds: int | None = None,
) -> str:
    """A signed token for ``subject``; raises ValueError for a subject or role we do not know.

    ``issued_at`` exists for tests (an expired token); tokens otherwise use the wall clock,
    because expiry is a security property, not business time.
    """
    principal = _principal(subject, roles)
    if principal.member_id is not None and roles:
        raise ValueError("member tokens carry no roles")
    now = issued_at or datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": subject,
        "roles": sorted(role.value for role in principal.roles),
        "iss": settings.jwt_issuer,
        "iat": now,
        "exp": now + timedelta(seconds=ttl_seconds or settings.jwt_ttl_seconds),
    }
    return jwt.encode(claims, _secret(settings), algorithm=ALGORITHM)


def decode_token(settings: Settings, token: str) -> Principal:
    """The principal a token names; DomainError(UNAUTHENTICATED) when it cannot be trusted."""
    principal = _verified(_secret(settings), settings.jwt_issuer, token)
    # What jwt.decode checks against the wall clock, checked again on each use of a verified
    # token: expired when ``exp`` is now or past.
    if principal.expires_at is not None and principal.expires_at <= datetime.now(UTC):
        raise _unauthenticated("the token has expired")
    return principal


@lru_cache(maxsize=VERIFIED_TOKENS)
def _verified(secret: str, issuer: str, token: str) -> Principal:
    """A token's principal once its signature and claims are checked (a refusal is raised, so
    never remembered)."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=issuer,
            options={"require": ["sub", "iss", "iat", "exp"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise _unauthenticated("the token has expired") from exc
    except jwt.InvalidIssuerError as exc:
        raise _unauthenticated("the token was issued by someone else") from exc
    except jwt.InvalidTokenError as exc:
        raise _unauthenticated("the token is invalid") from exc
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise _unauthenticated("the token's roles are malformed")
    known = [role for role in roles if role in KNOWN_ROLES]
    try:
        # Unknown roles are ignored (a newer issuer may know more), never trusted.
        principal = _principal(str(claims["sub"]), known)
    except ValueError as exc:
        raise _unauthenticated("the token's subject is invalid") from exc
    return replace(principal, expires_at=_expiry(int(claims["exp"])))


def _expiry(exp: int) -> datetime | None:
    try:
        return datetime.fromtimestamp(exp, UTC)
    except (OverflowError, ValueError, OSError):
        return None  # past the calendar's end: it never expires
