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
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from app.db import autocommit_fetch
from app.errors import DomainError
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
    async with rt.engine.connect() as conn:
        try:
            rows = await autocommit_fetch(conn, PLACE_ORDER, *arguments)
        except Exception as error:
            if stock_gone_at_commit(error):  # the COMMIT rolled the whole placement back
                raise out_of_stock(item.name) from None
            raise
    row = rows[0]
    if row["out_outcome"] == "out_of_stock":
        raise out_of_stock(item.name)
    if row["out_outcome"] != "placed":
        return None
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
