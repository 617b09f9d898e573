"""A redemption placed in one round trip: the common case of ``placeRedemption`` as one statement.

The ordinary path (:meth:`app.mall.redemptions.Redemptions.place` inside
:func:`app.ledger.idempotency.idempotent_replayed`) runs a placement as fifteen statements
between BEGIN and COMMIT, all under the member's account lock: in a flash sale each is a round
trip through an API worker kept busy by the rush, and the winners' own cost set the sell-out
(docs/PERFORMANCE.md, "Flash sale"). Here the same writes run inside PostgreSQL, in
``mall_place_order()`` (migration 0041), sent in autocommit: the key claimed, the account
locked, the item checked against the version this process priced, the member's units in the
limit's period counted, the member's status read after the lock, the hold (the ledger's
``ledger_hold_locked()``), the order, its event and the key's answer; the stock is taken by the
deferred trigger in the statement's COMMIT, as before (migration 0039).

It is tried only where this process can price the order as the ordinary path would: an item
for no minimum tier, no value policy, the figure the member was quoted. The statement declines
— writes nothing, and the caller runs the ordinary path, which answers exactly as it always did
— for a replay or a reused key, an unknown or inactive member, an item changed since it was
priced or whose price a running experiment overrides, a member at its limit, too few points or
lots to settle first. Too little stock answers OUT_OF_STOCK at once (nothing written), read
where the ordinary path reads it, or taken by others before the COMMIT (SQLSTATE ``JF409``).

Group commit (:mod:`app.groupcommit`): the placements of one item this process has in hand at
the same moment go out together, ``mall_place_orders()`` (migration 0054), which places each
with ``mall_place_order()`` in one transaction: a flash sale's winners then take the item's row
lock, and pay the WAL flush, once a batch instead of once each, one after the other. Each
placement's answer stays its own; one the batch cannot decide (its own error, or a COMMIT
refused because the batch held more units than the item had left) is sent again alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import autocommit_fetch
from app.errors import DomainError
from app.groupcommit import ALONE, Batcher, Outcome, outcomes_by_index
from app.ledger.idempotency import check_key, fingerprint
from app.ledger.models import Actor
from app.ledger.onetrip import hold_arguments, hold_placed
from app.ledger.policy import LedgerPolicy
from app.mall.policy import (
    Item,
    LimitPeriod,
    OrderStatus,
    check_on_sale,
    out_of_stock,
    period_start,
    unit_price,
)
from app.mall.pricing import value_policy
from app.mall.redemptions import HOLD_GRACE, Order, stock_gone_at_commit
from app.runtime import Runtime

PLACE_ORDER = (
    "SELECT * FROM mall_place_order($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,"
    " $15, $16, $17, $18, $19, $20, $21, $22, $23)"
)
PLACE_ORDERS = (
    "SELECT * FROM mall_place_orders($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,"
    " $15, $16, $17, $18, $19, $20, $21, $22, $23)"
)
OPERATION = "mall.place"  # the ordinary path's idempotency operation: a key replays on either


async def place_in_one_trip(
    rt: Runtime,
    actor: Actor,
    item: Item,
    quantity: int,
    member_id: int,
    key: str,
    request: dict[str, object],
    quoted_points: int | None,
) -> Order | None:
    """The order placed and committed by one statement, or None: nothing written, run the
    ordinary path (see the module's docstring). ``item``: as this process has it cached;
    ``request``: the key's request, as the ordinary path fingerprints it."""
    call = _arguments(rt, actor, item, quantity, member_id, key, request, quoted_points)
    if call is None:
        return None
    now, unit, points, expires_at, arguments = call
    row = await _placed(rt, item, arguments)
    if row is None or row["out_outcome"] == "declined":
        return None
    if row["out_outcome"] == "out_of_stock":
        raise out_of_stock(item.name)
    return Order(
        id=row["out_order_id"],
        member_id=member_id,
        item_id=item.id,
        quantity=quantity,
        unit_points=unit,
        points=points,
        cash_amount=row["out_cash_amount"],
        status=OrderStatus.PLACED,
        hold_id=hold_placed(row, member_id),
        commit_entry_id=None,
        return_entry_id=None,
        payment_ref=None,
        paid_amount=None,
        source=actor.source,
        actor=actor.principal,
        fulfilment_ref=None,
        close_reason=None,
        expires_at=expires_at,
        created_at=now,
        confirmed_at=None,
        fulfilled_at=None,
        closed_at=None,
    )


async def _placed(rt: Runtime, item: Item, arguments: tuple[Any, ...]) -> Any:
    """The statement's row for this placement (None: declined): in the process's next batch
    for the item, or alone when batching is off or the batch could not decide it."""
    batcher = order_batcher(rt, item.id)
    if batcher is not None:
        outcome = await batcher.post(arguments)
        if outcome is not ALONE:
            return outcome
    async with rt.engine.connect() as conn:
        try:
            rows = await autocommit_fetch(conn, PLACE_ORDER, *arguments)
        except Exception as error:
            if stock_gone_at_commit(error):  # the COMMIT rolled the whole placement back
                raise out_of_stock(item.name) from None
            raise
    return rows[0]


async def place_orders(engine: AsyncEngine, placements: Sequence[tuple[Any, ...]]) -> list[Outcome]:
    """One statement for all ``placements`` (of one item): each one's outcome, in their order."""
    columns = [list(column) for column in zip(*placements, strict=True)]
    async with engine.connect() as conn:
        rows = await autocommit_fetch(conn, PLACE_ORDERS, *columns)
    return outcomes_by_index(rows, len(placements))


def order_batcher(rt: Runtime, item_id: int) -> Batcher[tuple[Any, ...]] | None:
    """The runtime's batcher for the item on the running event loop (None: batching is off,
    JIFEN_MALL_ORDER_BATCH_MAX 0). One per item: a batch then locks one item's row, so two
    batches never wait for each other's items."""
    cap = rt.settings.mall_order_batch_max
    if cap == 0:
        return None
    batchers: dict[int, Batcher[tuple[Any, ...]]] = rt.caches.setdefault(BATCHERS, {})
    batcher = batchers.get(item_id)
    if batcher is None or batcher.loop is not asyncio.get_running_loop():
        batcher = batchers[item_id] = Batcher(rt.engine, cap, place_orders, "mall-order-batch")
    return batcher


BATCHERS = "mall.order_batchers"


def _arguments(
    rt: Runtime,
    actor: Actor,
    item: Item,
    quantity: int,
    member_id: int,
    key: str,
    request: dict[str, object],
    quoted_points: int | None,
) -> tuple[datetime, int, int, datetime, tuple[Any, ...]] | None:
    """The moment, the unit price, the points, the order's expiry and the statement's
    arguments; None where the ordinary path must run (it prices or refuses what this cannot)."""
    settings, now = rt.settings, rt.clock.now()
    if item.min_tier is not None or value_policy(rt).active:
        return None
    try:
        check_key(key)
        check_on_sale(item, now)
    except DomainError:
        return None
    unit = unit_price(item, now)
    points = unit * quantity
    if quoted_points is not None and quoted_points != points:
        return None
    expires_at = now + timedelta(seconds=settings.mall_order_timeout_seconds)
    hold = hold_arguments(
        LedgerPolicy.from_settings(settings),
        actor,
        points,
        f"mall: {item.name}",
        expires_at + HOLD_GRACE,
    )
    if hold is None:
        return None
    limit_since = None
    if item.per_member_limit is not None:
        period = item.limit_period or LimitPeriod.EVER
        limit_since = period_start(now, period, settings.timezone)
    arguments = (
        actor.principal,
        key,
        OPERATION,
        fingerprint([OPERATION, request]),
        member_id,
        item.id,
        item.version,
        item.code,
        quantity,
        unit,
        points,
        Decimal(item.cash_price),
        item.per_member_limit,
        limit_since,
        now,
        expires_at,
        actor.source,
        actor.principal,
        *hold,
    )
    return now, unit, points, expires_at, arguments
