"""An earn posted in one round trip: the common case of ``earnPoints`` as one statement.

The ledger's path (:mod:`app.ledger.usecases`, :class:`app.ledger.service.Ledger`) runs an earn
as ten round trips. Here the same statements run inside PostgreSQL, in ``ledger_post_credit()``
(migration 0026): the key claimed first, then the member's account locked, its status read
after the lock, the entry, its transfer, the lot, the account, the event and the key's answer —
one statement, sent in autocommit, so the statement is the transaction. Earns that arrive
together share one statement and its COMMIT (:mod:`app.ledger.groupcommit`), each with the
outcome it would have had alone.

It takes only the common case. When the request would be refused here (a bad amount, a blank
reason, dates out of order, a malformed key) or the function declines it (a replay or a reused
key, an unknown or closed member, an account with something to settle first), nothing has been
written and :func:`earn_in_one_trip` answers None: the caller runs the ledger's path, which
answers exactly as it always did. A connection lost while the statement is out may have
committed it: :class:`app.db.CommitInDoubt` (the client re-sends with its key); one found
unusable before it went out is retried (:class:`app.db.NotSent`).

A hold has no statement of its own here: ``ledger_hold_locked()`` (migration 0041) is called by
a caller's one statement under the account lock it took (the mall's placement), and
:func:`hold_arguments` and :func:`hold_placed` are the ledger's Python for that part.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg
from sqlalchemy.exc import DBAPIError

from app.db import after_commit, autocommit_fetch, retry_on_lost_connection
from app.errors import DomainError
from app.groupcommit import ALONE, IN_FLIGHT, POSTINGS_MAX
from app.ledger import posted
from app.ledger.commands import Earn, request_of
from app.ledger.groupcommit import Credit, CreditBatcher, post_credits
from app.ledger.idempotency import check_key, fingerprint
from app.ledger.journal import count_postings
from app.ledger.models import Actor, Balance, Entry, EntryKind, HoldStatus
from app.ledger.movements import credit_dates
from app.ledger.policy import LedgerPolicy
from app.ledger.service import checked_note
from app.runtime import Runtime

log = logging.getLogger("app.ledger")

POST_CREDIT = (
    "SELECT * FROM ledger_post_credit($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
    " $14, $15, $16, $17, $18, $19, $20)"
)


async def earn_in_one_trip(
    rt: Runtime, policy: LedgerPolicy, actor: Actor, earn: Earn, key: str, operation: str
) -> Entry | None:
    """The earn posted and committed by one statement, or None: nothing written, run the
    ledger's path (see the module's docstring)."""
    now = rt.clock.now()
    credit = earn_credit(policy, actor, earn, key, operation, now)
    if credit is None:
        return None
    row = await post_credit(rt, credit)
    if row is None:
        return None
    return credited_entry(
        row, earn.member_id, earn.amount, credit.reason, credit.reference, actor, now
    )


@dataclass(frozen=True)
class Credited:
    """An earn of a batch posted by the batch's statement, with the balance it left."""

    entry: Entry
    balance: Balance


# An earn of a batch: posted, refused whole with its chunk (a database fault: UNAVAILABLE, re-send
# with the keys), or None: nothing written, the ledger's path answers it.
BatchOutcome: TypeAlias = Credited | DomainError | None


async def earns_in_one_trip(
    rt: Runtime,
    policy: LedgerPolicy,
    actor: Actor,
    earns: Sequence[tuple[Earn, str]],
    operation: str,
) -> list[BatchOutcome]:
    """Many earns of one request (``earnPointsBatch``), posted by ``ledger_post_credits()``:
    one statement, one COMMIT, for up to :data:`POSTINGS_MAX` of them, two statements out at
    once (as the group commit's, and safe the same way: each claims its keys, then locks its
    accounts, in one order). Each outcome is its own, in the earns' order
    (:data:`BatchOutcome`)."""
    now = rt.clock.now()
    credits = [earn_credit(policy, actor, earn, key, operation, now) for earn, key in earns]
    outcomes: list[BatchOutcome] = [None] * len(earns)
    # A key's first use goes out; a later use of it in the batch takes the ledger's path after
    # the statements (a replay of the first, or IDEMPOTENCY_KEY_REUSED), whichever statement
    # the two would have been in and whichever of two statements out at once came first.
    first_uses = {
        credit.key: index for index, credit in reversed(list(enumerate(credits))) if credit
    }
    ready = [
        (index, credit)
        for index, credit in enumerate(credits)
        if credit is not None and first_uses[credit.key] == index
    ]
    out = asyncio.Semaphore(IN_FLIGHT)

    async def post(chunk: list[tuple[int, Credit]]) -> None:
        async with out:
            try:
                rows = await _post_credits(rt.engine, [credit for _, credit in chunk])
            except DomainError as refusal:  # in doubt, or the database is gone: re-send them
                for index, _ in chunk:
                    outcomes[index] = refusal
                return
            except (DBAPIError, asyncpg.PostgresError) as error:  # e.g. a deadlock broken here
                log.warning("an earn batch's statement failed, each earn goes alone: %s", error)
                return
        for (index, credit), row in zip(chunk, rows, strict=True):
            if isinstance(row, asyncpg.Record):
                earn = earns[index][0]
                entry = credited_entry(
                    row, earn.member_id, earn.amount, credit.reason, credit.reference, actor, now
                )
                outcomes[index] = Credited(entry, row_balance(row))

    await asyncio.gather(
        *(post(ready[start : start + POSTINGS_MAX]) for start in range(0, len(ready), POSTINGS_MAX))
    )
    return outcomes


# NotSent retried; a connection lost while the statement was out: UNAVAILABLE (CommitInDoubt).
_post_credits = retry_on_lost_connection(post_credits)


def earn_credit(
    policy: LedgerPolicy, actor: Actor, earn: Earn, key: str, operation: str, now: datetime
) -> Credit | None:
    """The earn's posting as ``ledger_post_credit(s)()`` take it, or None when the ledger's path
    would refuse the request (it refuses it then, in its own order and words)."""
    try:
        check_key(key)
        note = checked_note(policy, earn.amount, earn.reason, actor, earn.reference)
        available_at, expires_at = credit_dates(
            policy, now, earn.available_at, earn.expires_at, earn.expiry
        )
    except DomainError:
        return None
    kind = EntryKind.EARN
    details: dict[str, Any] = earn.details or {}
    entry_event = {
        "kind": kind.value,
        "amount": earn.amount,
        "reason": note.reason,
        "source": actor.source,
        "reference": note.reference,
        "reverses_entry_id": None,
        "created_at": now.isoformat(),
    }
    return Credit(
        actor.principal,
        key,
        operation,
        fingerprint([operation, request_of(earn)]),
        earn.member_id,
        kind.value,
        earn.amount,
        earn.counter_account,
        note.reason,
        actor.source,
        note.reference,
        actor.principal,
        actor.kind,
        actor.partner_channel,
        json.dumps(details),
        now,
        available_at,
        expires_at,
        "points.earned",
        json.dumps(entry_event),
    )


async def post_credit(rt: Runtime, credit: Credit) -> Any:
    """The posting's row (posted and committed) or None (declined, nothing written): in the
    process's next batch, or alone when batching is off or the batch could not decide it."""
    batcher = credit_batcher(rt)
    if batcher is not None:
        outcome = await batcher.post(credit)
        if outcome is not ALONE:
            return outcome
    async with rt.engine.connect() as conn:
        rows = await autocommit_fetch(conn, POST_CREDIT, *credit)
    return rows[0] if rows else None


def credit_batcher(rt: Runtime) -> CreditBatcher | None:
    """The runtime's batcher on the running event loop (None: JIFEN_EARN_BATCH_MAX is 0)."""
    if rt.settings.earn_batch_max == 0:
        return None
    batcher: CreditBatcher | None = rt.caches.get(BATCHER)
    if batcher is None or batcher.loop is not asyncio.get_running_loop():
        batcher = rt.caches[BATCHER] = CreditBatcher(rt.engine, rt.settings.earn_batch_max)
    return batcher


BATCHER = "ledger.credit_batcher"


def credited_entry(
    row: Any,
    member_id: int,
    amount: int,
    reason: str,
    reference: str | None,
    actor: Actor,
    now: datetime,
    *,
    committed: bool = True,
) -> Entry:
    """The earn a function's row answers (``out_entry_id``, the balance, ``out_details``), also
    ``engagement_check_in()``'s: its balance kept for the answer and the postings counted, now
    when the statement ``committed`` it, else once the caller's transaction commits."""
    kind = EntryKind.EARN
    balance = row_balance(row)
    if committed:
        posted.keep(member_id, balance)
        count_postings(kind, [amount])
    else:
        posted.record(member_id, balance)
        after_commit(lambda: count_postings(kind, [amount]))
    return Entry(
        id=row["out_entry_id"],
        member_id=member_id,
        kind=kind,
        amount=amount,
        balance_after=balance.total,
        reason=reason,
        source=actor.source,
        reference=reference,
        actor=actor.principal,
        created_by_kind=actor.kind,
        created_by_channel=actor.partner_channel,
        reverses_entry_id=None,
        reversed_amount=0,
        hold_id=None,
        details=row["out_details"],
        created_at=now,
    )


def row_balance(row: Any) -> Balance:
    """The balance a posting function's row answers (``out_available``…)."""
    return Balance(row["out_available"], row["out_pending"], row["out_held"], row["out_debt"])


def hold_arguments(
    policy: LedgerPolicy, actor: Actor, amount: int, reason: str, expires_at: datetime
) -> tuple[Any, ...] | None:
    """``ledger_hold_locked()``'s arguments as a caller's statement passes them on (migration
    0041: the created-by columns, the reason, when the hold expires, the event's part known
    before the statement), or None when the ledger's path would refuse the hold's note: then the
    caller runs that path, which refuses it in its own words. The statement names the hold's
    reference itself (it knows its order's id only there)."""
    try:
        checked_note(policy, amount, reason, actor, None)
    except DomainError:
        return None
    event = {"status": HoldStatus.ACTIVE.value, "expires_at": expires_at.isoformat()}
    return (actor.kind, actor.partner_channel, reason, expires_at, json.dumps(event))


def hold_placed(row: Any, member_id: int) -> int:
    """The hold a committed statement's row answers (``out_hold_id``, the balance): its id, the
    balance kept for the write's answer."""
    posted.keep(member_id, row_balance(row))
    return int(row["out_hold_id"])
