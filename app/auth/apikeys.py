"""Partner API keys: ``jf_<prefix>_<secret>``.

Only the SHA-256 of the secret is stored; the prefix (public, unique) finds the row. A secret
has 256 bits of entropy, so a plain hash is enough (no password-stretching needed), and the
comparison is constant-time so the time taken tells nothing about the hash.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import replace

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.auth.permissions import PARTNER_SCOPES
from app.auth.principal import Principal
from app.auth.tables import api_keys
from app.errors import DomainError, ErrorCode, invalid
from app.members.channels import check_channel_name

KEY_MARK = "jf"
MAX_NAME = 64
# Compared against when the prefix is unknown, so a miss costs the same as a wrong secret.
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


# What create_api_key issues: 12 hex digits, then token_urlsafe(32) (43 characters). Anything
# else cannot be a key, and is refused without a database query.
_KEY_SHAPE = re.compile(r"[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


class UnknownApiKey(DomainError):
    """No active key has this prefix (worth remembering for a while: prefixes are random)."""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _check_name(value: str, field: str) -> None:
    if not value.strip() or len(value) > MAX_NAME:
        raise invalid(f"{field} must be 1..{MAX_NAME} characters", field)


async def create_api_key(
    conn: AsyncConnection, partner: str, channel: str, scopes: Iterable[str]
) -> str:
    """Store a new key and return it; this is the only time the secret is seen."""
    _check_name(partner, "partner")
    _check_name(channel, "channel")
    check_channel_name(channel)
    wanted = sorted(set(scopes))
    unknown = [scope for scope in wanted if scope not in PARTNER_SCOPES]
    if unknown:
        raise invalid(f"unknown scopes {unknown}; known: {sorted(PARTNER_SCOPES)}", "scopes")
    prefix = secrets.token_hex(6)  # hex: never contains the '_' separator
    secret = secrets.token_urlsafe(32)
    await conn.execute(
        api_keys.insert().values(
            prefix=prefix,
            secret_hash=_hash(secret),
            partner=partner,
            channel=channel,
            scopes=wanted,
        )
    )
    return f"{KEY_MARK}_{prefix}_{secret}"


async def revoke_api_key(conn: AsyncConnection, prefix: str) -> bool:
    """True when an active key was revoked; False when none had that prefix."""
    result = await conn.execute(
        api_keys.update()
        .where(api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(api_keys.c.id)
    )
    return result.first() is not None


def split_api_key(raw: str) -> tuple[str, str]:
    """(prefix, secret) of a key that has the shape of one we issue; else UNAUTHENTICATED."""
    mark, _, rest = raw.strip().partition("_")
    if mark != KEY_MARK or not _KEY_SHAPE.fullmatch(rest):
        raise DomainError(ErrorCode.UNAUTHENTICATED, "the API key is malformed")
    prefix, _, secret = rest.partition("_")
    return prefix, secret


async def authenticate_api_key(conn: AsyncConnection, raw: str) -> Principal:
    """The partner a key belongs to; DomainError(UNAUTHENTICATED) for a wrong or revoked key."""
    prefix, secret = split_api_key(raw)
    row = (
        await conn.execute(
            select(
                api_keys.c.secret_hash, api_keys.c.partner, api_keys.c.channel, api_keys.c.scopes
            ).where(api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None))
        )
    ).first()
    stored = row.secret_hash if row is not None else _DUMMY_HASH
    matches = hmac.compare_digest(_hash(secret), stored)
    if row is None:
        raise UnknownApiKey(ErrorCode.UNAUTHENTICATED, "the API key is wrong or revoked")
    if not matches:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "the API key is wrong or revoked")
    return replace(
        Principal.of_partner(row.partner, row.channel, frozenset(row.scopes)), key_prefix=prefix
    )
