"""Group commit for ``earnPoints``: the earns one API process has in hand at the same moment
share one statement and one COMMIT, ``ledger_post_credits()`` (migration 0043), through the
process's :class:`app.groupcommit.Batcher` (no timer, ``IN_FLIGHT`` batches out, faults).

Each earn's outcome stays its own (the function answers a row per posting): posted, declined
(the caller runs the ledger's path, as when ``ledger_post_credit()`` declines) or failed (the
caller sends it again alone, so its error is the one it would have met alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import autocommit_fetch
from app.groupcommit import Batcher, Outcome, outcomes_by_index

POST_CREDITS = (
    "SELECT * FROM ledger_post_credits($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
    " $14, $15, $16, $17, $18, $19, $20)"
)


class Credit(NamedTuple):
    """An earn's posting: ``ledger_post_credit()``'s parameters, in its order."""

    caller: str
    key: str
    operation: str
    fingerprint: str
    member_id: int
    kind: str
    amount: int
    counter_account: str
    reason: str
    source: str
    reference: str | None
    actor: str
    created_by_kind: str
    created_by_channel: str | None
    details: str  # JSON text
    now: Any
    available_at: Any
    expires_at: Any
    event_type: str
    entry_event: str  # JSON text


async def post_credits(engine: AsyncEngine, credits: Sequence[Credit]) -> list[Outcome]:
    """One statement for all ``credits``: each one's outcome, in their order."""
    columns = [list(column) for column in zip(*credits, strict=True)]
    async with engine.connect() as conn:
        rows = await autocommit_fetch(conn, POST_CREDITS, *columns)
    return outcomes_by_index(rows, len(credits))


class CreditBatcher(Batcher[Credit]):
    """The process's queue of earns waiting for their batch (one per runtime and event loop)."""

    def __init__(self, engine: AsyncEngine, cap: int) -> None:
        super().__init__(engine, cap, post_credits, "ledger-earn-batch")
