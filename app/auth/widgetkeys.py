"""Widget keys: ``jfw_<prefix>_<secret>``, public and read-only, each scoped to one leaderboard
(docs/WIDGETS.md).

A widget key is written into a brand's web page, so it is no secret from the page's visitors: it
grants nothing but reading its one board, live. It is stored like an API key (the prefix finds
the row, only a SHA-256 of the rest is kept) so that a database dump does not hand out keys, and
it can be revoked. ``jifen widget-key create --board points-earned`` makes one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import replace

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.auth.principal import Principal
from app.auth.tables import widget_keys
from app.errors import DomainError, ErrorCode
from app.leaderboards.boards import get_board

KEY_MARK = "jfw"
_KEY_SHAPE = re.compile(r"[0-9a-f]{12}_[A-Za-z0-9_-]{22}")
_DUMMY_HASH = hashlib.sha256(b"no such widget key").hexdigest()


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_widget_key(raw: str) -> bool:
    return raw.strip().startswith(f"{KEY_MARK}_")


async def create_widget_key(conn: AsyncConnection, board: str) -> str:
    """A new key for ``board`` (which must exist); the key is shown only this once."""
    get_board(board)  # INVALID_INPUT for a board that does not exist
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(16)
    await conn.execute(
        widget_keys.insert().values(prefix=prefix, secret_hash=_hash(secret), board=board)
    )
    return f"{KEY_MARK}_{prefix}_{secret}"


async def revoke_widget_key(conn: AsyncConnection, prefix: str) -> bool:
    result = await conn.execute(
        widget_keys.update()
        .where(widget_keys.c.prefix == prefix, widget_keys.c.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(widget_keys.c.id)
    )
    return result.first() is not None


async def authenticate_widget_key(conn: AsyncConnection, raw: str) -> Principal:
    mark, _, rest = raw.strip().partition("_")
    if mark != KEY_MARK or not _KEY_SHAPE.fullmatch(rest):
        raise DomainError(ErrorCode.UNAUTHENTICATED, "the widget key is malformed")
    prefix, _, secret = rest.partition("_")
    row = (
        await conn.execute(
            select(widget_keys.c.secret_hash, widget_keys.c.board).where(
                widget_keys.c.prefix == prefix, widget_keys.c.revoked_at.is_(None)
            )
        )
    ).first()
    matches = hmac.compare_digest(_hash(secret), row.secret_hash if row else _DUMMY_HASH)
    if row is None or not matches:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "the widget key is wrong or revoked")
    return replace(Principal.widget(row.board), key_prefix=prefix)
