"""Earning's decisions, pure: no I/O, no clock, no database (tests/earning/test_decisions.py).

A use case (app/earning/usecases.py) checks its command here before it opens a transaction,
reads under the member's lock what a decision needs (app/earning/store.py), decides here, then
writes what was decided (app/earning/orders.py). The points themselves are the rule engine's
(app/earning/rules.py, pure too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from app.earning import engine
from app.earning.commands import (
    PreviewPoints,
    PurchaseLineInput,
    RecordEvent,
    RecordPurchase,
    RecordRefund,
)
from app.earning.records import MemberSnapshot
from app.earning.refunds import clawback_target
from app.earning.rules import (
    CENT,
    MAX_MONEY,
    Line,
    MemberFacts,
    Occurrence,
    Outcome,
    Purchase,
    Rule,
)
from app.earning.specs import money
from app.errors import invalid
from app.ledger.idempotency import fingerprint
from app.tiers.policy import TierDef

MAX_LINES = 500
MAX_ID_LENGTH = 64
MAX_QUANTITY = 1_000_000
MAX_EVENT_QUANTITY = Decimal("1000000")
FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_AGE = timedelta(days=90)


# ------------------------------------------------------------------------------ the commands


def check_ident(value: str, field: str) -> str:
    if not value.strip() or len(value) > MAX_ID_LENGTH:
        raise invalid(f"{field} must be 1..{MAX_ID_LENGTH} characters", field)
    return value


def check_lines(lines: Sequence[PurchaseLineInput]) -> tuple[Line, ...]:
    if not lines:
        raise invalid("an order needs at least one line", "lines")
    if len(lines) > MAX_LINES:
        raise invalid(f"an order may have at most {MAX_LINES} lines, not {len(lines)}", "lines")
    checked = []
    for i, line in enumerate(lines):
        where = f"lines[{i}]"
        check_ident(line.sku, f"{where}.sku")
        check_ident(line.category, f"{where}.category")
        if not 1 <= line.quantity <= MAX_QUANTITY:
            raise invalid(f"quantity must be 1..{MAX_QUANTITY}", f"{where}.quantity")
        amount = money(line.amount, f"{where}.amount")
        checked.append(Line(line.sku, line.category, line.quantity, amount))
    if sum((line.amount for line in checked), Decimal(0)) > MAX_MONEY:
        raise invalid(f"the order total is above {MAX_MONEY}", "lines")
    return tuple(checked)


def occurred(occurred_at: datetime | None, now: datetime) -> datetime:
    """When it happened: now, or a given time not in the future and not too long ago."""
    if occurred_at is None:
        return now
    if occurred_at.tzinfo is None:
        raise invalid("give a time zone offset", "occurredAt")
    if occurred_at > now + FUTURE_TOLERANCE:
        raise invalid("occurredAt is in the future", "occurredAt")
    if occurred_at < now - MAX_AGE:
        raise invalid(f"occurredAt is more than {MAX_AGE.days} days ago", "occurredAt")
    return occurred_at


def _given_time(occurred_at: datetime | None) -> str | None:
    return occurred_at.isoformat() if occurred_at else None


@dataclass(frozen=True)
class CheckedPurchase:
    basket: Purchase
    at: datetime
    fingerprint: str  # of the request, stored on the purchase for replays

    @property
    def categories(self) -> list[str]:
        return sorted({line.category for line in self.basket.lines})


def check_purchase(command: RecordPurchase, now: datetime) -> CheckedPurchase:
    check_ident(command.channel, "channel")
    check_ident(command.order_id, "orderId")
    lines = check_lines(command.lines)
    at = occurred(command.occurred_at, now)
    request = {
        "member_id": command.member_id,
        "lines": [[x.sku, x.category, x.quantity, str(x.amount)] for x in lines],
        "occurred_at": _given_time(command.occurred_at),
    }
    return CheckedPurchase(Purchase(command.channel, lines), at, fingerprint(request))


def check_preview(command: PreviewPoints, now: datetime) -> tuple[Purchase, datetime]:
    check_ident(command.channel, "channel")
    lines = check_lines(command.lines)
    at = now if command.at is None else command.at
    if at.tzinfo is None:
        raise invalid("give a time zone offset", "at")
    return Purchase(command.channel, lines), at


@dataclass(frozen=True)
class CheckedEvent:
    occurrence: Occurrence
    at: datetime
    fingerprint: str


def check_event(command: RecordEvent, now: datetime) -> CheckedEvent:
    check_ident(command.channel, "channel")
    check_ident(command.event_id, "eventId")
    check_ident(command.name, "name")
    quantity = command.quantity
    if not quantity.is_finite() or quantity <= 0 or quantity > MAX_EVENT_QUANTITY:
        raise invalid(f"quantity must be above 0 and at most {MAX_EVENT_QUANTITY}", "quantity")
    if quantity != round(quantity, 4):
        raise invalid("quantity has more than 4 decimals", "quantity")
    at = occurred(command.occurred_at, now)
    request = {
        "member_id": command.member_id,
        "name": command.name,
        "quantity": str(quantity.normalize()),
        "occurred_at": _given_time(command.occurred_at),
    }
    occurrence = Occurrence(command.channel, command.name, quantity)
    return CheckedEvent(occurrence, at, fingerprint(request))


@dataclass(frozen=True)
class CheckedRefund:
    by_line: list[tuple[int, Decimal]] | None  # (line number, amount) as asked
    amount: Decimal | None
    fingerprint: str


def check_refund(command: RecordRefund) -> CheckedRefund:
    check_ident(command.channel, "channel")
    check_ident(command.order_id, "orderId")
    check_ident(command.refund_id, "refundId")
    lines, amount = command.lines, command.amount
    if lines is not None and amount is not None:
        raise invalid("refund by lines or by amount, not both", "amount")
    if lines is not None and not lines:
        raise invalid("give at least one line (or leave lines out)", "lines")
    if lines is not None and len(lines) > MAX_LINES:
        raise invalid(f"a refund may have at most {MAX_LINES} lines", "lines")
    if amount is not None:
        amount = money(amount, "amount", allow_zero=False)
    by_line = (
        None
        if lines is None
        else [(x.line_no, money(x.amount, "lines.amount", allow_zero=False)) for x in lines]
    )
    request = {
        "order_id": command.order_id,
        "lines": None if by_line is None else [[n, str(a)] for n, a in by_line],
        "amount": None if amount is None else str(amount),
    }
    return CheckedRefund(by_line, amount, fingerprint(request))


def recorded_before(what: str) -> str:
    """The refusal of a key recorded before with another request (IDEMPOTENCY_KEY_REUSED)."""
    return f"this {what} was already recorded with different content"


# --------------------------------------------------------------------------------- the rules


def birthday_on_file(snapshot: MemberSnapshot, at: datetime, tz: str) -> date | None:
    """The birthday as the rules see it: only one on file before the business day, so a
    birthday given (or changed by staff) today pays nothing today (docs/EARNING.md)."""
    set_at = snapshot.birthday_set_at
    if set_at is None:
        return None
    if engine.local_day(set_at, tz) < engine.local_day(at, tz):
        return snapshot.birthday
    return None


def member_facts(
    snapshot: MemberSnapshot, tier: TierDef | None, at: datetime, tz: str, *, purchase: bool
) -> MemberFacts:
    first = purchase and not snapshot.has_purchases
    return MemberFacts(
        tier=tier.code if tier else None,
        tier_multiplier=tier.multiplier if tier else Decimal(1),
        first_purchase=first,
        birthday=birthday_on_file(snapshot, at, tz),
        known_categories=snapshot.known_categories if purchase and not first else frozenset(),
        segment=snapshot.segment,
    )


@dataclass(frozen=True)
class Standing:
    """What the rules weigh besides the purchase or event: the member, caps and budgets."""

    facts: MemberFacts
    used: Mapping[str, int]  # cap counters
    budgets: Mapping[int, int]  # points left per budgeted rule


def evaluate(
    rules: Sequence[Rule],
    happened: Purchase | Occurrence,
    standing: Standing,
    at: datetime,
    tz: str,
    daily_ceiling: int | None,
) -> Outcome:
    return engine.evaluate(
        rules,
        happened,
        standing.facts,
        at=at,
        tz=tz,
        used=standing.used,
        budgets_left=standing.budgets,
        daily_ceiling=daily_ceiling,
    )


# ---------------------------------------------------------------------------------- refunds


@dataclass(frozen=True)
class OrderLine:
    line_no: int
    amount: Decimal
    refunded: Decimal  # before this refund
    points: int


@dataclass(frozen=True)
class Order:
    points: int  # what the order earned
    order_points: Decimal  # of which the order-level rules
    clawed_back: int  # by earlier refunds
    lines: Sequence[OrderLine]  # in line order


@dataclass(frozen=True)
class RefundDecision:
    back: Mapping[int, Decimal]  # what this refund returns, by line number
    refunded: Sequence[Decimal]  # each line's refunded amount after it, in line order
    clawback: int  # the points the order accounts for now (the ledger may hold fewer)

    @property
    def total(self) -> Decimal:
        return sum(self.back.values(), Decimal(0))


def decide_refund(order: Order, refund: CheckedRefund) -> RefundDecision:
    left = {line.line_no: line.amount - line.refunded for line in order.lines}
    back = refund_split(left, refund.by_line, refund.amount)
    refunded = [line.refunded + back.get(line.line_no, Decimal(0)) for line in order.lines]
    target = clawback_target(
        order.points,
        [Decimal(line.points) for line in order.lines],
        order.order_points,
        [line.amount for line in order.lines],
        refunded,
    )
    return RefundDecision(back, refunded, max(target - order.clawed_back, 0))


def refund_split(
    left: dict[int, Decimal],
    by_line: list[tuple[int, Decimal]] | None,
    amount: Decimal | None,
) -> dict[int, Decimal]:
    """How much of each line this refund returns; refunding more than is left is refused."""
    if by_line is not None:
        return _split_by_line(left, by_line)
    remaining = sum(left.values(), Decimal(0))
    if remaining <= 0:
        raise invalid("this order is already fully refunded", "orderId")
    if amount is None:
        return {n: v for n, v in left.items() if v > 0}
    if amount > remaining:
        raise invalid(f"refunding {amount}, only {remaining} left to refund", "amount")
    return _spread(left, amount, remaining)


def _split_by_line(
    left: dict[int, Decimal], by_line: list[tuple[int, Decimal]]
) -> dict[int, Decimal]:
    back: dict[int, Decimal] = {}
    for line_no, value in by_line:
        if line_no not in left:
            raise invalid(f"the order has no line {line_no}", "lines.lineNo")
        back[line_no] = back.get(line_no, Decimal(0)) + value
    for line_no, value in back.items():
        if value > left[line_no]:
            raise invalid(
                f"line {line_no}: refunding {value}, only {left[line_no]} left to refund",
                "lines.amount",
            )
    return back


def _spread(left: dict[int, Decimal], amount: Decimal, remaining: Decimal) -> dict[int, Decimal]:
    """Spread over the lines in proportion to what is left of each, to the cent; the last
    line with something left takes the rounding remainder."""
    back = {}
    open_lines = [n for n, v in left.items() if v > 0]
    given = Decimal(0)
    for i, line_no in enumerate(open_lines):
        if i == len(open_lines) - 1:
            share = amount - given
        else:
            share = (amount * left[line_no] / remaining).quantize(CENT)
        share = min(share, left[line_no])
        back[line_no] = share
        given += share
    if given != amount:  # rounding pushed the last line past what it has: fill the others
        for line_no in open_lines:
            extra = min(amount - given, left[line_no] - back[line_no])
            back[line_no] += extra
            given += extra
    return {n: v for n, v in back.items() if v > 0}
