"""Group commit for ``earnPoints``: the earns one API process has in hand at the same moment
share one statement and one COMMIT, ``ledger_post_credits()`` (migration 0043).

Each earn's outcome stays its own (the function answers a row per posting): posted, declined
(the caller runs the ledger's path, as when ``ledger_post_credit()`` declines) or failed (the
caller sends it again alone, so its error is the one it would have met alone).

No timer: an earn is queued and a flush is scheduled for the event loop's next turn, so a lone
earn goes out at once and the earns that arrived in the same turn go with it. While
``IN_FLIGHT`` batches are out, new earns wait and go together when one returns — the busier the
process, the bigger the batch, up to the cap (``JIFEN_EARN_BATCH_MAX``).

The batch is one statement in autocommit, so its faults are one earn's faults, for every earn
in it: a connection found unusable before it went out raises :class:`app.db.NotSent` to each
(each is retried, by :func:`app.db.retry_on_lost_connection`), one lost while it was out
raises :class:`app.db.CommitInDoubt` to each (each client re-sends with its key). Any other
error of the whole statement sends each earn again alone.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Sequence
from typing import Any, NamedTuple, TypeAlias

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import CommitInDoubt, autocommit_fetch, connection_lost

POST_CREDITS = (
    "SELECT * FROM ledger_post_credits($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
    " $14, $15, $16, $17, $18, $19, $20)"
)

# Postings in one statement at most: each is a subtransaction, and a transaction with more than
# 64 makes other sessions' snapshots slow (PostgreSQL's subtransaction cache overflows). The
# group commit's cap (JIFEN_EARN_BATCH_MAX) is held to it; a bulk earn is cut into statements of
# this many (app/ledger/onetrip.py).
POSTINGS_MAX = 60

# Batches out at once per process. Two: one is being written while the next one fills up, and
# PostgreSQL's backend work of one batch overlaps the API's work for the next.
IN_FLIGHT = 2


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


class Alone:
    """The answer for an earn the batch could not decide: send it again on its own."""


ALONE = Alone()
# A posting's row (posted), None (declined: the ledger's path answers) or ALONE.
Outcome: TypeAlias = asyncpg.Record | Alone | None


async def post_credits(engine: AsyncEngine, credits: Sequence[Credit]) -> list[Outcome]:
    """One statement for all ``credits``: each one's outcome, in their order."""
    columns = [list(column) for column in zip(*credits, strict=True)]
    async with engine.connect() as conn:
        rows = await autocommit_fetch(conn, POST_CREDITS, *columns)
    outcomes: list[Outcome] = [ALONE] * len(credits)
    for row in rows:
        outcome = row["out_outcome"]
        outcomes[row["out_index"] - 1] = (
            row if outcome == "posted" else None if outcome == "declined" else ALONE
        )
    return outcomes


class CreditBatcher:
    """The process's queue of earns waiting for their batch (one per runtime and event loop)."""

    def __init__(self, engine: AsyncEngine, cap: int) -> None:
        self.engine = engine
        self.cap = cap
        self.loop = asyncio.get_running_loop()
        self.batches = 0  # statements sent: what the tests count
        self._waiting: list[tuple[Credit, asyncio.Future[Outcome]]] = []
        self._out: set[asyncio.Task[None]] = set()
        self._flush_scheduled = False

    async def post(self, credit: Credit) -> Outcome:
        """The posting's outcome, once the batch it went out in has committed."""
        future: asyncio.Future[Outcome] = self.loop.create_future()
        self._waiting.append((credit, future))
        self._schedule_flush()
        return await future

    def _schedule_flush(self) -> None:
        if self._flush_scheduled or not self._waiting or len(self._out) >= IN_FLIGHT:
            return
        self._flush_scheduled = True
        # A context of its own: the batch belongs to no one request (their context variables,
        # e.g. the balances a request posted, stay in their own tasks).
        self.loop.call_soon(self._flush, context=contextvars.Context())

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._waiting = self._waiting[: self.cap], self._waiting[self.cap :]
        task = self.loop.create_task(self._send(batch), name="ledger-earn-batch")
        self._out.add(task)
        task.add_done_callback(self._returned)

    def _returned(self, task: asyncio.Task[None]) -> None:
        self._out.discard(task)
        self._schedule_flush()

    async def _send(self, batch: list[tuple[Credit, asyncio.Future[Outcome]]]) -> None:
        self.batches += 1
        try:
            outcomes = await post_credits(self.engine, [credit for credit, _ in batch])
        except asyncio.CancelledError:  # the process stops: so do the earns in the batch
            for _, future in batch:
                future.cancel()
            raise
        except Exception as error:
            if isinstance(error, CommitInDoubt) or connection_lost(error):
                for _, future in batch:
                    _settle(future, error=error)
                return
            outcomes = [ALONE] * len(batch)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            _settle(future, outcome)


def _settle(
    future: asyncio.Future[Outcome], outcome: Outcome = None, *, error: Exception | None = None
) -> None:
    if future.done():  # its request was cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(outcome)
