"""Per-principal budgets: what an operation does is counted (each mutation field), and the
request past the budget is refused with RATE_LIMITED, HTTP 429 and Retry-After."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.clock import FrozenClock
from app.config import Settings
from tests.graphql.conftest import Api, api_with
from tests.metricsamples import growth

BALANCE = "query($m: ID!) { member(id: $m) { balance { available } } }"


@pytest.fixture
async def tight_api(settings: Settings, clock: FrozenClock) -> AsyncIterator[Api]:
    async with api_with(
        settings, clock, rate_limit_member="3/minute", rate_limit_partner="3/minute"
    ) as api:
        yield api


async def test_a_member_past_its_budget_is_refused_and_others_are_not(tight_api: Api) -> None:
    member = await tight_api.register("pos", "chatty")
    other = await tight_api.register("pos", "quiet")

    answers = [
        await tight_api.call(BALANCE, {"m": member}, tight_api.member_headers(member))
        for _ in range(3)
    ]
    refused = await tight_api.post(BALANCE, {"m": member}, tight_api.member_headers(member))

    assert all("errors" not in body for body in answers), answers
    assert refused.status_code == 429
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    [error] = refused.json()["errors"]
    assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": retry_after}
    assert "3 per 1 minute" in error["message"]
    calm = await tight_api.call(BALANCE, {"m": other}, tight_api.member_headers(other))
    assert "errors" not in calm
    staff = await tight_api.call(BALANCE, {"m": member}, tight_api.staff_headers())
    assert "errors" not in staff


def aliased_earns(member: str, count: int, key: str) -> str:
    fields = " ".join(
        f'e{i}: earnPoints(input: {{memberId: "{member}", amount: 1, reason: "flood", '
        f'idempotencyKey: "{key}-{i}"}}) {{ __typename }}'
        for i in range(count)
    )
    return f"mutation {{ {fields} }}"


async def test_each_aliased_mutation_counts_against_the_budget(tight_api: Api) -> None:
    member = await tight_api.register("pos", "target")
    flooder = await tight_api.partner_headers(["points:earn"])

    four = await tight_api.post(aliased_earns(member, 4, "four"), headers=flooder)
    assert four.status_code == 429, four.text
    assert four.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert (await tight_api.ledger_state(member))["balance"]["available"] == 0  # none ran

    three = await tight_api.call(aliased_earns(member, 3, "three"), headers=flooder)
    assert "errors" not in three, three
    assert (await tight_api.ledger_state(member))["balance"]["available"] == 3
    # The three donations used the whole budget: the next single one is refused.
    one = await tight_api.post(aliased_earns(member, 1, "one"), headers=flooder)
    assert one.status_code == 429
    assert (await tight_api.ledger_state(member))["balance"]["available"] == 3


async def test_rate_limit_refusals_are_counted_by_caller_kind(tight_api: Api) -> None:
    member = await tight_api.register("pos", "chatty")
    refusals = growth("jifen_rate_limited_total", principal="member")
    statuses = [
        (await tight_api.post("{ me { id } }", None, tight_api.member_headers(member))).status_code
        for _ in range(5)
    ]
    assert statuses == [200, 200, 200, 429, 429]
    assert refusals() == 2
