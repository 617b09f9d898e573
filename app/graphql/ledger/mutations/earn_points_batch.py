"""earnPointsBatch: many earns in one call (a till's end-of-day upload, an ERP's sync).

Each item is an ``EarnPointsInput`` and answers as ``earnPoints`` would have answered it, in the
input's order: the whole call is refused (nothing written) only when it is not allowed at all or
its list is empty or too long. The common case posts up to sixty earns per statement and COMMIT
(:func:`app.ledger.usecases.earn_points_batch`), each with its ``points.earned`` event.
"""

from __future__ import annotations

import asyncio

from app.errors import DomainError, ErrorCode
from app.graphql.core.errors import MutationError, mutation_error, refusals
from app.graphql.core.mutations import Call, mutation
from app.graphql.ledger.inputs import EarnPointsBatchInput, EarnPointsInput
from app.graphql.ledger.mutations.earn_points import earn_of
from app.graphql.ledger.resolvers import balance_after_write
from app.graphql.ledger.types import BalanceNode, EarnBatchPosted, EntryNode, PointsPosted
from app.ledger import posted, usecases
from app.ledger.commands import Earn
from app.ledger.models import Entry
from app.ledger.onetrip import Credited


@mutation("Credit points to many members at once: each item as earnPoints, with its own outcome.")
async def earn_points_batch(call: Call, input: EarnPointsBatchInput) -> EarnBatchPosted:
    limit = call.runtime.settings.earn_points_batch_max
    if not 1 <= len(input.items) <= limit:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"a batch has 1 to {limit} items, not {len(input.items)}",
            "items",
        )
    # Concurrently, so a partner's channel look-ups of all the members share one statement.
    earns = await asyncio.gather(*(_earn(call, item) for item in input.items))
    accepted = [
        (earn, item.idempotency_key)
        for earn, item in zip(earns, input.items, strict=True)
        if isinstance(earn, Earn)
    ]
    done = iter(await usecases.earn_points_batch(call.runtime, call.actor, accepted))
    outcomes = [next(done) if isinstance(earn, Earn) else earn for earn in earns]
    # An item the batch's statement posted answers the balance its row gave; the balances the
    # ledger's path kept would be some later item's for a member named twice: those items
    # (replays, mostly) read the balance as of now, in one statement.
    for member_id in call.members:
        posted.take(member_id)
    results = await asyncio.gather(*(_answer(call, outcome) for outcome in outcomes))
    refused = sum(isinstance(result, MutationError) for result in results)
    return EarnBatchPosted(results=results, posted=len(results) - refused, refused=refused)


async def _earn(call: Call, item: EarnPointsInput) -> Earn | DomainError:
    """The item's earn once the caller may make it, or why not (this item only)."""
    try:
        return await earn_of(call, item)
    except DomainError as refusal:
        return refusal


async def _answer(
    call: Call, outcome: Credited | Entry | DomainError
) -> PointsPosted | MutationError:
    if isinstance(outcome, DomainError):
        noted = refusals.get()
        if noted is not None:
            noted.append(outcome.code)
        return mutation_error(outcome)
    if isinstance(outcome, Credited):
        return PointsPosted(
            entry=EntryNode.of(outcome.entry), balance=BalanceNode.of(outcome.balance)
        )
    return PointsPosted(
        entry=EntryNode.of(outcome), balance=await balance_after_write(call.ctx, outcome.member_id)
    )
