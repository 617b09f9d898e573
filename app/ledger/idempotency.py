"""Idempotency, for every caller: a repeated request returns the first answer and never writes
twice; the same key with a different request is refused (``IDEMPOTENCY_KEY_REUSED``).

A request is recognised in one of two ways, under one rule (:func:`same_request`):

- by an idempotency key (:func:`idempotent`): the key row is inserted first, in the same
  transaction as the write. A concurrent request with the same key blocks on the unique index
  until the first commits (then it reads the stored result) or rolls back (then it runs itself).
  A refused request (a DomainError) rolls back with its key, so the caller may retry it after
  fixing the cause.
- by a key of the domain's own (an order id, a refund id, an event id): the domain's row is
  unique on it and stores the request's :func:`fingerprint`; the domain finds the row under the
  member's lock and replays it through :func:`same_request`, with no key row and no extra
  statement on its hot path.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.errors import DomainError, ErrorCode, invalid
from app.ledger.tables import idempotency_keys

R = TypeVar("R")

MAX_KEY_LENGTH = 128
KEY_FIELD = "idempotencyKey"
KEY_REUSED = "this idempotency key was already used for a different request"


def fingerprint(request: Any) -> str:
    """The request's digest: SHA-256 of its canonical JSON (sorted keys, other values as
    ``str``). Stored with what the request wrote; the digests already stored depend on it."""
    canonical = json.dumps(request, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str, field: str = KEY_FIELD) -> str:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise invalid(f"idempotency key must be 1..{MAX_KEY_LENGTH} characters", field)
    return key


def reused(message: str, field: str) -> DomainError:
    return DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED, message, field)


def same_request(stored: str | None, request: str, *, message: str, field: str) -> None:
    """A key found again: the same fingerprint is a replay (the caller answers what was stored),
    another one (or nothing stored) is refused."""
    if stored != request:
        raise reused(message, field)


async def idempotent(
    conn: AsyncConnection,
    *,
    now: datetime,
    caller: str,
    key: str,
    operation: str,
    request: Mapping[str, Any],
    run: Callable[[], Awaitable[R]],
    dump: Callable[[R], dict[str, Any]],
    load: Callable[[dict[str, Any]], Awaitable[R]],
) -> R:
    check_key(key)
    print_ = fingerprint([operation, request])
    claimed = await conn.scalar(
        insert(idempotency_keys)
        .values(caller=caller, key=key, operation=operation, fingerprint=print_, created_at=now)
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


async def idempotent_replayed(
    conn: AsyncConnection,
    *,
    now: datetime,
    caller: str,
    key: str,
    operation: str,
    request: Mapping[str, Any],
    run: Callable[[], Awaitable[R]],
    dump: Callable[[R], dict[str, Any]],
    load: Callable[[dict[str, Any]], Awaitable[R]],
) -> tuple[R, bool]:
    """:func:`idempotent`, also telling whether the answer is a replay (for payloads that say
    ``replayed``)."""
    ran = False

    async def first() -> R:
        nonlocal ran
        result = await run()
        ran = True
        return result

    result = await idempotent(
        conn,
        now=now,
        caller=caller,
        key=key,
        operation=operation,
        request=request,
        run=first,
        dump=dump,
        load=load,
    )
    return result, not ran


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
    # A key row without a response belongs to no committed write: refused like a reuse.
    same_request(
        stored.fingerprint if stored.response is not None else None,
        print_,
        message=KEY_REUSED,
        field=KEY_FIELD,
    )
    return await load(stored.response)


async def stored_response(
    conn: AsyncConnection, *, caller: str, key: str, operation: str
) -> dict[str, Any] | None:
    """What ``key`` answered for ``operation``, without claiming it (None: not used yet)."""
    response: dict[str, Any] | None = await conn.scalar(
        select(idempotency_keys.c.response).where(
            idempotency_keys.c.caller == caller,
            idempotency_keys.c.key == key,
            idempotency_keys.c.operation == operation,
        )
    )
    return response
