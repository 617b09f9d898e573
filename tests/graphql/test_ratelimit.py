"""Per-principal budgets: the request past the budget is refused with RATE_LIMITED."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app.clock import FrozenClock
from app.config import Settings
from app.web import create_app
from tests.graphql.conftest import Api

BALANCE = "query($m: ID!) { member(id: $m) { balance { available } } }"


@pytest.fixture
async def tight_api(settings: Settings, clock: FrozenClock) -> AsyncIterator[Api]:
    tight = settings.model_copy(update={"rate_limit_member": "3/minute"})
    application = create_app(tight, clock)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://jifen.test") as client:
            yield Api(client, tight, application.state.runtime)


async def test_a_member_past_its_budget_is_refused_and_others_are_not(tight_api: Api) -> None:
    member = await tight_api.register("pos", "chatty")
    other = await tight_api.register("pos", "quiet")

    answers = [
        await tight_api.call(BALANCE, {"m": member}, tight_api.member_headers(member))
        for _ in range(4)
    ]

    assert all("errors" not in body for body in answers[:3]), answers
    [error] = answers[3]["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert "3 per 1 minute" in error["message"]
    calm = await tight_api.call(BALANCE, {"m": other}, tight_api.member_headers(other))
    assert "errors" not in calm
    staff = await tight_api.call(BALANCE, {"m": member}, tight_api.staff_headers())
    assert "errors" not in staff
