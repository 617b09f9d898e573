"""Earning's pure decisions (app/earning/decisions.py): commands checked, refunds split and
clawed back, the member's facts — no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from app.earning.commands import (
    PreviewPoints,
    PurchaseLineInput,
    RecordEvent,
    RecordPurchase,
    RecordRefund,
    RefundLineInput,
)
from app.earning.decisions import (
    MAX_AGE,
    CheckedRefund,
    Order,
    OrderLine,
    check_event,
    check_preview,
    check_purchase,
    check_refund,
    decide_refund,
    member_facts,
    occurred,
    refund_split,
)
from app.earning.records import MemberSnapshot
from app.errors import DomainError, ErrorCode
from app.tiers.policy import TierDef

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
SHANGHAI = "Asia/Shanghai"
LINE = PurchaseLineInput("sku-1", "grocery", 2, Decimal("30"))


def field_of(error: pytest.ExceptionInfo[DomainError]) -> str | None:
    assert error.value.code is ErrorCode.INVALID_INPUT
    return error.value.field


def purchase(**changes: object) -> RecordPurchase:
    values: dict[str, object] = {"member_id": 7, "channel": "pos", "order_id": "o1"}
    values["lines"] = [LINE]
    return RecordPurchase(**{**values, **changes})  # type: ignore[arg-type]


def test_a_purchase_is_checked_and_fingerprinted_for_its_replays() -> None:
    checked = check_purchase(purchase(), NOW)
    assert checked.at == NOW and checked.basket.total == Decimal("30")
    assert checked.categories == ["grocery"]
    assert check_purchase(purchase(), NOW + timedelta(hours=1)).fingerprint == checked.fingerprint
    other = purchase(lines=[PurchaseLineInput("sku-1", "grocery", 2, Decimal("31"))])
    assert check_purchase(other, NOW).fingerprint != checked.fingerprint
    # The order id is the key, not the content: it is not in the fingerprint.
    assert check_purchase(purchase(order_id="o2"), NOW).fingerprint == checked.fingerprint


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"channel": " "}, "channel"),
        ({"order_id": "x" * 65}, "orderId"),
        ({"lines": []}, "lines"),
        ({"lines": [PurchaseLineInput("sku", "c", 0, Decimal(1))]}, "lines[0].quantity"),
        ({"lines": [PurchaseLineInput("sku", "c", 1, Decimal("1.001"))]}, "lines[0].amount"),
        ({"occurred_at": datetime(2026, 11, 25)}, "occurredAt"),  # no time zone
        ({"occurred_at": NOW + timedelta(minutes=6)}, "occurredAt"),
        ({"occurred_at": NOW - MAX_AGE - timedelta(seconds=1)}, "occurredAt"),
    ],
)
def test_a_bad_purchase_is_refused_before_anything_is_read(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(DomainError) as error:
        check_purchase(purchase(**changes), NOW)
    assert field_of(error) == field


def test_a_time_a_little_ahead_is_tolerated() -> None:
    assert occurred(None, NOW) == NOW
    assert occurred(NOW + timedelta(minutes=4), NOW) == NOW + timedelta(minutes=4)


def test_an_event_quantity_is_bounded_and_normalised_in_its_fingerprint() -> None:
    event = RecordEvent(7, "app", "e1", "run", quantity=Decimal("5.0"))
    same = RecordEvent(7, "app", "e1", "run", quantity=Decimal("5"))
    assert check_event(event, NOW).fingerprint == check_event(same, NOW).fingerprint
    for quantity in (Decimal(0), Decimal("1.00001"), Decimal("NaN"), Decimal("1000001")):
        with pytest.raises(DomainError) as error:
            check_event(RecordEvent(7, "app", "e1", "run", quantity=quantity), NOW)
        assert field_of(error) == "quantity"


def test_a_refund_by_lines_or_by_amount_not_both() -> None:
    both = RecordRefund(
        "pos", "o1", "r1", lines=[RefundLineInput(1, Decimal(1))], amount=Decimal(1)
    )
    with pytest.raises(DomainError) as error:
        check_refund(both)
    assert field_of(error) == "amount"
    with pytest.raises(DomainError) as error:
        check_refund(RecordRefund("pos", "o1", "r1", lines=[]))
    assert field_of(error) == "lines"
    by_amount = check_refund(RecordRefund("pos", "o1", "r1", amount=Decimal("10.50")))
    assert (by_amount.by_line, by_amount.amount) == (None, Decimal("10.50"))
    assert check_refund(RecordRefund("pos", "o1", "r2", amount=Decimal("10.5"))).fingerprint == (
        by_amount.fingerprint
    )


def test_a_preview_needs_a_time_zone() -> None:
    basket, at = check_preview(PreviewPoints(7, "pos", [LINE]), NOW)
    assert at == NOW and basket.total == Decimal("30")
    with pytest.raises(DomainError) as error:
        check_preview(PreviewPoints(7, "pos", [LINE], at=datetime(2026, 1, 1)), NOW)
    assert field_of(error) == "at"


def test_an_amount_is_spread_over_the_lines_to_the_cent() -> None:
    left = {1: Decimal("10"), 2: Decimal("20"), 3: Decimal("0")}
    assert refund_split(left, None, Decimal("10")) == {1: Decimal("3.33"), 2: Decimal("6.67")}
    assert refund_split(left, None, None) == {1: Decimal("10"), 2: Decimal("20")}
    with pytest.raises(DomainError, match="only 30 left"):
        refund_split(left, None, Decimal("30.01"))
    with pytest.raises(DomainError, match="already fully refunded"):
        refund_split({1: Decimal(0)}, None, None)


def test_a_refund_by_line_names_lines_the_order_has() -> None:
    left = {1: Decimal("10"), 2: Decimal("20")}
    by_line = [(2, Decimal("5")), (2, Decimal("5"))]
    assert refund_split(left, by_line, None) == {2: Decimal("10")}
    with pytest.raises(DomainError) as error:
        refund_split(left, [(3, Decimal("1"))], None)
    assert field_of(error) == "lines.lineNo"
    with pytest.raises(DomainError) as error:
        refund_split(left, [(1, Decimal("10.01"))], None)
    assert field_of(error) == "lines.amount"


def order(refunded: str = "0", clawed_back: int = 0) -> Order:
    lines = [
        OrderLine(1, Decimal("100"), Decimal(refunded), 100),
        OrderLine(2, Decimal("100"), Decimal("0"), 100),
    ]
    return Order(points=250, order_points=Decimal(50), clawed_back=clawed_back, lines=lines)


def test_a_refund_claws_back_its_share_and_never_twice() -> None:
    half = decide_refund(order(), CheckedRefund([(1, Decimal("100"))], None, "f"))
    assert half.back == {1: Decimal("100")} and half.total == Decimal("100")
    assert list(half.refunded) == [Decimal("100"), Decimal("0")]
    assert half.clawback == 125  # line 1's 100 and half the order's 50
    rest = decide_refund(order("100", clawed_back=125), CheckedRefund(None, None, "f"))
    assert rest.total == Decimal("100") and rest.clawback == 125  # 250 in all, exactly


def snapshot(**changes: object) -> MemberSnapshot:
    values: dict[str, object] = {"status": "active", "birthday": date(1990, 11, 25)}
    values["has_purchases"] = True
    return MemberSnapshot(**{**values, **changes})  # type: ignore[arg-type]


def test_a_birthday_counts_only_when_on_file_before_the_day() -> None:
    gold = TierDef("gold", "Gold", 3, Decimal(10000), Decimal("1.5"))
    yesterday = snapshot(birthday_set_at=NOW - timedelta(days=1))
    facts = member_facts(yesterday, gold, NOW, SHANGHAI, purchase=True)
    assert (facts.tier, facts.tier_multiplier) == ("gold", Decimal("1.5"))
    assert facts.birthday == date(1990, 11, 25)
    assert member_facts(snapshot(), None, NOW, SHANGHAI, purchase=True).birthday is None
    today = snapshot(birthday_set_at=NOW)
    assert member_facts(today, None, NOW, SHANGHAI, purchase=True).birthday is None


def test_known_categories_count_for_purchases_after_the_first() -> None:
    known = frozenset({"grocery"})
    facts = member_facts(snapshot(known_categories=known), None, NOW, SHANGHAI, purchase=True)
    assert (facts.first_purchase, facts.known_categories) == (False, known)
    first = member_facts(
        snapshot(has_purchases=False, known_categories=known), None, NOW, SHANGHAI, purchase=True
    )
    assert (first.first_purchase, first.known_categories) == (True, frozenset())
    event = member_facts(snapshot(known_categories=known), None, NOW, SHANGHAI, purchase=False)
    assert (event.first_purchase, event.known_categories) == (False, frozenset())
