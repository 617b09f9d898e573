"""Earning's writing: purchases with their lines, refunds and events, each with its ledger
entry, once a decision was made (app/earning/decisions.py) under the member's lock; and their
replays. The unit of work is the caller's (app/earning/usecases.py)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import ARRAY, CTE, Row, bindparam, func, literal, select, true

from app.earning.commands import RecordEvent, RecordPurchase, RecordRefund
from app.earning.decisions import (
    CheckedEvent,
    CheckedPurchase,
    Order,
    OrderLine,
    RefundDecision,
    recorded_before,
)
from app.earning.hooks import PurchaseRide, RideBuild
from app.earning.records import (
    EventResult,
    MemberSnapshot,
    PurchaseRecord,
    PurchaseResult,
    RefundResult,
)
from app.earning.rules import Outcome, Rule
from app.earning.store import EarningStore
from app.earning.tables import earning_events, purchase_lines, purchases, refunds
from app.errors import not_found
from app.events.outbox import SIGNAL_PREFIX, append_event, event_for_each
from app.ledger.commands import Earn, Reverse
from app.ledger.credits import Rider, RiderBuild
from app.ledger.idempotency import reused, same_request
from app.ledger.models import Actor, Entry
from app.members.claims import Kind, insert_claimed
from app.tiers.service import activity_riding

# Member sales' events (docs/ANALYTICS.md, "Member sales"): a purchase recorded, a refund on
# one. Their topic is a signal topic: no topic lock queues the purchases of every member.
SALES_TOPIC = f"{SIGNAL_PREFIX}sales"
PURCHASE_RECORDED = "purchase.recorded"
PURCHASE_REFUNDED = "purchase.refunded"

_LINE_COLUMNS = ("line_no", "sku", "category", "quantity", "amount", "points")


def _placement(entry_id: Any) -> tuple[list[CTE], CTE]:
    """A purchase and its lines in one statement, built once (parameters bound at each
    execution, each named ``o_`` and its column): the purchase's CTE, and the lines' and the
    sales event's. The lines come from the purchase's CTE (none when the purchase met a
    conflict) and travel as one array per column, unnested: the text is the same for any
    number of lines, so its compilation is cached too. ``entry_id``: the entry's id, a
    parameter, or the credit's own when the placement rides on the credit's statement
    (app/ledger/credits.py's ``Rider``)."""
    values = {
        c.name: entry_id if c.name == "entry_id" else bindparam(f"o_{c.name}", type_=c.type)
        for c in purchases.c
        if c.name != "id"
    }
    # The order id claimed across members in the same statement (app/members/claims.py): no
    # purchase when it was claimed before, by this member or another.
    placed = insert_claimed(purchases, values, Kind.PURCHASE).returning(*purchases.c).cte("placed")
    arrays = [
        bindparam(f"line_{name}", type_=ARRAY(purchase_lines.c[name].type))
        for name in _LINE_COLUMNS
    ]
    line = func.unnest(*arrays).table_valued(*_LINE_COLUMNS).render_derived("line")
    lines = purchase_lines.insert().from_select(
        ["purchase_id", *_LINE_COLUMNS, "member_id", "refunded_amount"],
        select(
            placed.c.id,
            *(line.c[name] for name in _LINE_COLUMNS),
            placed.c.member_id,
            literal(0, purchase_lines.c.refunded_amount.type),
        ).select_from(placed.join(line, true())),
    )
    # Announced in the same statement (analytics sums member sales from the outbox).
    recorded = event_for_each(
        placed,
        SALES_TOPIC,
        PURCHASE_RECORDED,
        func.jsonb_build_object("purchase_id", placed.c.id, "member_id", placed.c.member_id),
        member_id=placed.c.member_id,  # on the purchase's shard, not the programme's
    )
    return [lines.cte("lines"), recorded.cte("recorded")], placed


def _placement_noting_tier(entry_id: Any, *, first_row: bool = False) -> tuple[list[CTE], CTE]:
    """The placement, and the member's tier activity noted and measured with the purchase
    counted (app/tiers/service.py's ``activity_riding``): its row is the purchase's with the
    measures' columns (none when the purchase met a conflict)."""
    riding, placed = _placement(entry_id)
    measured = activity_riding(placed, first_row=first_row)
    both = select(placed, *measured.c).select_from(placed.join(measured, true())).cte("noted")
    return [*riding, measured], both


def _placement_noting_new_tier(entry_id: Any) -> tuple[list[CTE], CTE]:
    """:func:`_placement_noting_tier` for a member without a tier row: its base row too."""
    return _placement_noting_tier(entry_id, first_row=True)


def _place_purchase_statement() -> Any:
    """The placement alone (a purchase that earns nothing: no credit to ride on)."""
    riding, placed = _placement(bindparam("o_entry_id", type_=purchases.c.entry_id.type))
    return select(placed).add_cte(*riding)


_PLACE_PURCHASE = _place_purchase_statement()


def _reused(what: str, field: str) -> Exception:
    return reused(recorded_before(what), field)


async def _entry(store: EarningStore, entry_id: int | None) -> Entry | None:
    return await store.ledger().get_entry(entry_id) if entry_id else None


async def _earn(
    store: EarningStore,
    actor: Actor,
    decided: tuple[int, MemberSnapshot, list[Rule], Outcome],
    *,
    reason: str,
    reference: str,
    rider: Rider | None = None,
    **more: Any,
) -> Entry:
    """The outcome's points, on the account the snapshot locked, with the rules' expiry (and
    the caller's ``rider`` in the credit's statement)."""
    member_id, snapshot, rules, outcome = decided
    earn = Earn(
        member_id,
        outcome.points,
        reason,
        reference=reference[:128],
        expiry=store.rule_expiry(rules, outcome),
        **more,
    )
    return await store.ledger().earn(earn, actor, lock=snapshot.account, rider=rider)


# -------------------------------------------------------------------------------- purchases


async def replay_purchase(
    store: EarningStore, purchase_id: int, checked: CheckedPurchase
) -> PurchaseResult:
    existing = (
        await store.conn.execute(select(purchases).where(purchases.c.id == purchase_id))
    ).one()
    same_request(
        existing.fingerprint,
        checked.fingerprint,
        message=recorded_before("order id"),
        field="orderId",
    )
    record = PurchaseRecord.of(existing)
    return PurchaseResult(record, await _entry(store, record.entry_id), None, replayed=True)


async def place_purchase(
    store: EarningStore,
    actor: Actor,
    command: RecordPurchase,
    checked: CheckedPurchase,
    snapshot: MemberSnapshot,
    rules: list[Rule],
    outcome: Outcome,
    ride: PurchaseRide | None = None,
) -> PurchaseResult:
    """The earn (pending for the return window), the purchase with its lines, the counters,
    the member's tier activity; a listener's ``ride`` in the credit's statement too (its row
    left there for the listener)."""
    breakdown = outcome.details()  # on the entry and on the purchase
    params = _purchase_params(store, command, checked, outcome, breakdown)
    entry = noted = None
    if outcome.points:  # the purchase with its lines rides on the credit's statement
        window = timedelta(days=store.settings.earning_return_window_days)
        rider, noting = await _rider(store, command.member_id, params, ride)
        entry = await _earn(
            store,
            actor,
            (command.member_id, snapshot, rules, outcome),
            reason=f"purchase {command.order_id}",
            reference=f"{command.channel}:{command.order_id}",
            rider=rider,
            available_at=checked.at + window,
            details=breakdown,
            counter_account="issuance",
        )
        row = rider.row
        noted = row if noting else None
        if ride is not None:
            ride.row = row
    else:
        row = (await store.conn.execute(_PLACE_PURCHASE, {**params, "o_entry_id": None})).first()
    if row is None:  # the same (channel, order id) committed meanwhile for another member
        raise _reused("order id", "orderId")  # (the unit of work rolls the earning back)
    await store.count(command.member_id, outcome)
    change = await store.tiers.record_activity(command.member_id, purchase=True, noted=noted)
    return PurchaseResult(
        PurchaseRecord.of(row), entry, change, replayed=False, first=not snapshot.has_purchases
    )


async def _rider(
    store: EarningStore, member_id: int, params: dict[str, Any], ride: PurchaseRide | None
) -> tuple[Rider, bool]:
    """The placement riding on the credit's statement, with the tier activity where the tiers
    allow it (a spend-qualifying programme), and the listener's ``ride``: one round trip for
    the four. And whether the tier activity rides (its measures come back in the row)."""
    build: RiderBuild = _placement
    if await store.tiers.rides_activity():
        params = {**params, **store.tiers.activity_params(member_id)}
        new_row = not store.tiers.has_row(member_id)  # its first earning: its tier row too
        build = _placement_noting_new_tier if new_row else _placement_noting_tier
    noting = build is not _placement
    if ride is None:
        return Rider(build, params), noting
    return Rider(_carrying(build, ride.build), {**params, **ride.params}), noting


@cache
def _carrying(build: RiderBuild, ride: RideBuild) -> RiderBuild:
    """``build``'s placement with a listener's read (:class:`PurchaseRide`) riding along: its
    CTEs after the placement's, its one row beside the placement's (none when the placement
    wrote none). Cached: one function, so one credit statement, per pair."""

    def carried(entry_id: Any) -> tuple[list[CTE], CTE]:
        ctes, returned = build(entry_id)
        riding, read = ride()
        both = select(returned, read).select_from(returned.join(read, true())).cte("carried")
        return [*ctes, *riding, read], both

    return carried


def _purchase_params(
    store: EarningStore,
    command: RecordPurchase,
    checked: CheckedPurchase,
    outcome: Outcome,
    breakdown: dict[str, Any],
) -> dict[str, Any]:
    """The placement's parameters (the entry's id aside: the credit's, or none)."""
    lines = checked.basket.lines
    purchase = {
        "member_id": command.member_id,
        "channel": command.channel,
        "order_id": command.order_id,
        "fingerprint": checked.fingerprint,
        "amount": checked.basket.total,
        "refunded_amount": 0,
        "points": outcome.points,
        "clawed_back": 0,
        "order_points": outcome.order_points,
        "breakdown": breakdown,
        "occurred_at": checked.at,
        "created_at": store.clock.now(),
    }
    by_column = {
        "line_no": list(range(1, len(lines) + 1)),
        "sku": [line.sku for line in lines],
        "category": [line.category for line in lines],
        "quantity": [line.quantity for line in lines],
        "amount": [line.amount for line in lines],
        "points": list(outcome.line_points),
    }
    return {
        **{f"o_{k}": v for k, v in purchase.items()},
        **{f"line_{k}": v for k, v in by_column.items()},
    }


async def get_purchase(store: EarningStore, channel: str, order_id: str) -> PurchaseRecord:
    return PurchaseRecord.of(await purchase_row(store, channel, order_id))


async def purchase_row(store: EarningStore, channel: str, order_id: str) -> Row[Any]:
    row = (
        await store.conn.execute(
            select(purchases).where(
                purchases.c.channel == channel, purchases.c.order_id == order_id
            )
        )
    ).first()
    if row is None:
        raise not_found("order", f"{channel}/{order_id}", "orderId")
    return row


# ---------------------------------------------------------------------------------- refunds


async def lock_order(store: EarningStore, command: RecordRefund) -> int:
    """Lock the order's member (refunds of one member are serialised like its purchases)."""
    found = (
        await store.conn.execute(
            select(purchases.c.member_id).where(
                purchases.c.channel == command.channel, purchases.c.order_id == command.order_id
            )
        )
    ).first()
    if found is None:
        raise not_found("order", f"{command.channel}/{command.order_id}", "orderId")
    await store.lock_and_read_member(found.member_id)
    return int(found.member_id)


async def find_refund(store: EarningStore, command: RecordRefund) -> Row[Any] | None:
    return (
        await store.conn.execute(
            select(refunds).where(
                refunds.c.channel == command.channel, refunds.c.refund_id == command.refund_id
            )
        )
    ).first()


async def replay_refund(
    store: EarningStore, previous: Row[Any], purchase: Row[Any], fingerprint: str
) -> RefundResult:
    same_request(
        previous.fingerprint, fingerprint, message=recorded_before("refund id"), field="refundId"
    )
    return RefundResult(
        previous.id,
        PurchaseRecord.of(purchase),
        Decimal(previous.amount),
        previous.points,
        await _entry(store, previous.entry_id),
        replayed=True,
    )


async def order_of(store: EarningStore, purchase: Row[Any]) -> Order:
    rows = await store.conn.execute(
        select(purchase_lines)
        .where(purchase_lines.c.purchase_id == purchase.id)
        .order_by(purchase_lines.c.line_no)
    )
    lines = [
        OrderLine(r.line_no, Decimal(r.amount), Decimal(r.refunded_amount), r.points) for r in rows
    ]
    return Order(purchase.points, Decimal(purchase.order_points), purchase.clawed_back, lines)


async def claw_back(
    store: EarningStore,
    actor: Actor,
    command: RecordRefund,
    purchase: Row[Any],
    decision: RefundDecision,
) -> tuple[int, Entry | None]:
    """Reverse what the refunded part earned, as far as the earn still stands (staff may have
    reversed some). Returns the points the order accounts for, and the reversal."""
    clawback = decision.clawback
    if not clawback or purchase.entry_id is None:
        return clawback, None
    ledger = store.ledger()
    earned = await ledger.get_entry(purchase.entry_id)
    clawback = min(clawback, earned.amount - earned.reversed_amount)
    if clawback <= 0:
        return clawback, None
    entry = await ledger.reverse(
        Reverse(
            entry_id=purchase.entry_id,
            amount=clawback,
            reason=f"refund {command.refund_id} of order {command.order_id}",
        ),
        actor,
    )
    return clawback, entry


async def write_refund(
    store: EarningStore,
    command: RecordRefund,
    fingerprint: str,
    purchase: Row[Any],
    order: Order,
    decision: RefundDecision,
    clawed: tuple[int, Entry | None],
) -> RefundResult:
    accounted, entry = clawed
    for line, refunded in zip(order.lines, decision.refunded, strict=True):
        if refunded != line.refunded:
            await store.conn.execute(
                purchase_lines.update()
                .where(
                    purchase_lines.c.purchase_id == purchase.id,
                    purchase_lines.c.line_no == line.line_no,
                )
                .values(refunded_amount=refunded)
            )
    updated = (
        await store.conn.execute(
            purchases.update()
            .where(purchases.c.id == purchase.id)
            .values(
                refunded_amount=purchases.c.refunded_amount + decision.total,
                # What the order accounts for, even when the ledger took less (written off).
                clawed_back=purchases.c.clawed_back + max(accounted, 0),
            )
            .returning(*purchases.c)
        )
    ).one()
    points = entry.amount * -1 if entry is not None else 0
    refund_id = await store.conn.scalar(
        insert_claimed(
            refunds,
            {
                "purchase_id": purchase.id,
                "member_id": purchase.member_id,
                "channel": command.channel,
                "refund_id": command.refund_id,
                "fingerprint": fingerprint,
                "amount": decision.total,
                "points": points,
                "entry_id": entry.id if entry else None,
                "created_at": store.clock.now(),
            },
            Kind.REFUND,
        ).returning(refunds.c.id)
    )
    if refund_id is None:  # the same (channel, refund id) committed meanwhile for another member
        raise _reused("refund id", "refundId")  # (the unit of work rolls the claw-back back)
    await append_event(
        store.conn,
        SALES_TOPIC,
        PURCHASE_REFUNDED,
        {"refund_id": refund_id, "purchase_id": purchase.id, "member_id": purchase.member_id},
        member_id=purchase.member_id,
    )
    return RefundResult(
        refund_id, PurchaseRecord.of(updated), decision.total, points, entry, replayed=False
    )


# ----------------------------------------------------------------------------------- events


async def find_event(store: EarningStore, command: RecordEvent) -> Row[Any] | None:
    return (
        await store.conn.execute(
            select(earning_events).where(
                earning_events.c.channel == command.channel,
                earning_events.c.event_id == command.event_id,
            )
        )
    ).first()


async def replay_event(store: EarningStore, existing: Row[Any], fingerprint: str) -> EventResult:
    same_request(
        existing.fingerprint, fingerprint, message=recorded_before("event id"), field="eventId"
    )
    return EventResult(
        existing.id,
        existing.member_id,
        existing.name,
        existing.points,
        await _entry(store, existing.entry_id),
        existing.breakdown,
        replayed=True,
    )


async def write_event(
    store: EarningStore,
    actor: Actor,
    command: RecordEvent,
    checked: CheckedEvent,
    snapshot: MemberSnapshot,
    rules: list[Rule],
    outcome: Outcome,
) -> EventResult:
    """The event row, its earn, the counters, the member's tier activity."""
    breakdown = outcome.details()  # on the event row, the entry and the result
    event_id = await _insert_event(store, command, checked, outcome, breakdown)
    entry = None
    if outcome.points:
        entry = await _earn(
            store,
            actor,
            (command.member_id, snapshot, rules, outcome),
            reason=f"event {command.name}",
            reference=f"{command.channel}:{command.event_id}",
            details={"event_id": event_id, **breakdown},
        )
        await store.conn.execute(
            earning_events.update().where(earning_events.c.id == event_id).values(entry_id=entry.id)
        )
    await store.count(command.member_id, outcome)
    await store.tiers.record_activity(command.member_id, purchase=False)
    return EventResult(
        event_id, command.member_id, command.name, outcome.points, entry, breakdown, replayed=False
    )


async def _insert_event(
    store: EarningStore,
    command: RecordEvent,
    checked: CheckedEvent,
    outcome: Outcome,
    breakdown: dict[str, Any],
) -> int:
    event_id = await store.conn.scalar(
        insert_claimed(
            earning_events,
            {
                "member_id": command.member_id,
                "channel": command.channel,
                "event_id": command.event_id,
                "name": command.name,
                "quantity": command.quantity,
                "fingerprint": checked.fingerprint,
                "points": outcome.points,
                "breakdown": breakdown,
                "occurred_at": checked.at,
                "created_at": store.clock.now(),
            },
            Kind.EVENT,
        ).returning(earning_events.c.id)
    )
    if event_id is None:  # the same (channel, event id) committed meanwhile for another member
        raise _reused("event id", "eventId")
    return int(event_id)
