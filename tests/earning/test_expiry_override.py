"""An earning rule's own expiry policy overrides the programme's for the points it gives."""

from __future__ import annotations

from datetime import UTC, datetime

from app.clock import FrozenClock
from app.earning import usecases
from app.earning.commands import RecordEvent
from app.errors import DomainError, ErrorCode
from app.ledger import usecases as ledger
from app.runtime import Runtime
from tests.earning.conftest import BASE, SHARE, STAFF, AddRules
from tests.earning.test_service import POS, buy

CAMPAIGN = {
    "name": "double-eleven bonus, valid to June",
    "trigger": "purchase",
    "effect": {"kind": "fixed", "points": 30},
    "expiry": "fixed:2027-06-30",
}


async def test_a_rules_fixed_expiry_applies_to_its_credit(
    runtime: Runtime, member: int, add_rules: AddRules, clock: FrozenClock
) -> None:
    [rule_id] = await add_rules({**SHARE, "expiry": "never"})
    result = await usecases.record_event(
        runtime, POS, RecordEvent(member_id=member, channel="pos", event_id="e1", name="share")
    )
    assert result.entry is not None
    (lot,) = await ledger.list_lots(runtime, member, first=10)
    assert lot.expires_at is None  # the rule says never; the programme says 12 months
    rules = await usecases.list_rules(runtime, first=10)
    assert any(r.rule.id == rule_id and r.rule.expiry is not None for r in rules)


async def test_rules_sharing_a_credit_give_the_member_the_kindest_expiry(
    runtime: Runtime, member: int, add_rules: AddRules, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 11, 11, 2, 0, tzinfo=UTC))
    await add_rules(BASE, {**CAMPAIGN, "expiry": "fixed:2028-06-30"})
    await buy(runtime, member, "o1", "100")
    (lot,) = await ledger.list_lots(runtime, member, first=10)
    # Base points follow the programme (valid through 2027-11-11), the campaign says
    # 2028-06-30: the later one wins for the whole credit.
    assert lot.expires_at == datetime(2028, 6, 30, 16, 0, tzinfo=UTC)


async def test_a_rule_alone_may_shorten_the_expiry_of_its_points(
    runtime: Runtime, member: int, add_rules: AddRules, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 11, 11, 2, 0, tzinfo=UTC))
    await add_rules(CAMPAIGN)
    await buy(runtime, member, "o1", "100")
    (lot,) = await ledger.list_lots(runtime, member, first=10)
    assert lot.expires_at == datetime(2027, 6, 30, 16, 0, tzinfo=UTC)


async def test_a_bad_expiry_in_a_rule_is_refused(runtime: Runtime, add_rules: AddRules) -> None:
    try:
        await usecases.create_rule(runtime, STAFF, {**BASE, "expiry": "monthly"})
    except DomainError as error:
        assert error.code is ErrorCode.INVALID_INPUT and error.field == "expiry"
    else:
        raise AssertionError("a bad expiry policy was accepted")
    assert await usecases.list_rules(runtime, first=10) == []
