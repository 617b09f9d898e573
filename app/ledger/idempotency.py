"""Idempotency keys: a replayed write returns the first result and never runs twice.

The key row is inserted first, in the same transaction as the write. A concurrent request with
the same key blocks on the unique index until the first commits (then it reads the stored
result) or rolls back (then it runs itself). A refused request (a DomainError) rolls back with
its key, so the caller may retry it after fixing the cause.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.errors import DomainError, ErrorCode, invalid
from app.ledger.tables import idempotency_keys

R = TypeVar("R")

MAX_KEY_LENGTH = 128


def fingerprint(operation: str, request: Mapping[str, Any]) -> str:
    canonical = json.dumps([operation, request], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def idempotent(
    conn: AsyncConnection,
    *,
    caller: str,
    key: str,
    operation: str,
    request: Mapping[str, Any],
    run: Callable[[], Awaitable[R]],
    dump: Callable[[R], dict[str, Any]],
    load: Callable[[dict[str, Any]], Awaitable[R]],
) -> R:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise invalid(f"idempotency key must be 1..{MAX_KEY_LENGTH} characters", "idempotencyKey")
    print_ = fingerprint(operation, request)
    claimed = await conn.scalar(
        insert(idempotency_keys)
        .values(caller=caller, key=key, operation=operation, fingerprint=print_)
        .on_conflict_do_nothing()
        .returning(idempotency_keys.c.key)
    )
    if claimed is None:
        return await _replay(conn, caller, key, print_, load)
    result = await run()
    await conn.execute(
        idempotency_keys.update()
        .where(idempotency_keys.c.caller == caller, idempotency_keys.c.key == key)
        .values(response=dump(result))
    )
    return result


async def _replay(
    conn: AsyncConnection,
    caller: str,
    key: str,
    print_: str,
    load: Callable[[dict[str, Any]], Awaitable[R]],
) -> R:
    stored = (
        await conn.execute(
            select(idempotency_keys.c.fingerprint, idempotency_keys.c.response).where(
                idempotency_keys.c.caller == caller, idempotency_keys.c.key == key
            )
        )
    ).one()
    if stored.fingerprint != print_ or stored.response is None:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "this idempotency key was already used for a different request",
            "idempotencyKey",
        )
    return await load(stored.response)
