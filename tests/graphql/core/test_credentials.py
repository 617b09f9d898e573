"""Failed credentials are logged, throttled per client address and per key prefix, and keys that
cannot be valid cost no database query."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from starlette.applications import Starlette

from app.auth.tokens import mint_token
from app.clock import FrozenClock
from app.config import Settings
from app.web import create_app
from tests.graphql.conftest import Api, calling_from
from tests.graphql.statements import counting_statements

PING = "{ __typename }"
ATTACKER = ("203.0.113.7", 4000)
SOMEONE_ELSE = ("198.51.100.9", 4000)


@pytest.fixture
async def strict_app(settings: Settings, clock: FrozenClock) -> AsyncIterator[Starlette]:
    strict = settings.model_copy(
        update={"auth_failures_per_address": "5/minute", "auth_failures_per_key": "3/minute"}
    )
    application = create_app(strict, clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def attacker(strict_app: Starlette) -> AsyncIterator[Api]:
    async with calling_from(strict_app, ATTACKER) as http:
        yield Api(http, strict_app.state.runtime.settings, strict_app.state.runtime)


@pytest.fixture
async def bystander(strict_app: Starlette) -> AsyncIterator[Api]:
    async with calling_from(strict_app, SOMEONE_ELSE) as http:
        yield Api(http, strict_app.state.runtime.settings, strict_app.state.runtime)


def wrong_secret(key: str) -> str:
    return key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")


def fake_key(n: int) -> str:
    return f"jf_{n:012x}_{'x' * 43}"


async def test_wrong_keys_from_one_address_are_throttled_before_the_database(
    attacker: Api, bystander: Api
) -> None:
    good = await attacker.partner_headers(["members:read"])
    for n in range(5):
        refused = await attacker.post(PING, headers={"X-Api-Key": fake_key(n)})
        assert refused.status_code == 401
    throttled = await attacker.post(PING, headers={"X-Api-Key": fake_key(99)})
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    assert throttled.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"

    # While throttled, even a good key from there is not looked up.
    with counting_statements(attacker) as statements:
        assert (await attacker.post(PING, headers=good)).status_code == 429
    assert not [s for s in statements if "FROM api_keys" in s]
    # Elsewhere the same key works.
    assert (await bystander.post(PING, headers=good)).status_code == 200


async def test_guessing_one_keys_secret_is_throttled_from_any_address(
    strict_app: Starlette, bystander: Api
) -> None:
    good = await bystander.partner_headers(["members:read"])
    guess = {"X-Api-Key": wrong_secret(good["X-Api-Key"])}
    statuses = []
    for n in range(4):
        async with calling_from(strict_app, (f"192.0.2.{n}", 4000)) as http:
            statuses.append(
                (await http.post("/graphql", json={"query": PING}, headers=guess)).status_code
            )
    assert statuses == [401, 401, 401, 429]


async def test_bad_tokens_are_throttled_too(attacker: Api) -> None:
    expired = mint_token(
        attacker.settings, "member:1", [], issued_at=datetime.now(UTC) - timedelta(days=2)
    )
    headers = {"Authorization": f"Bearer {expired}"}
    statuses = [(await attacker.post(PING, headers=headers)).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]


async def test_keys_that_cannot_be_valid_cost_no_query(attacker: Api, bystander: Api) -> None:
    with counting_statements(attacker) as statements:
        for malformed in ("jf_x_y", "jf_0123456789ab_short", "nope", f"jf_{'g' * 12}_{'x' * 43}"):
            response = await attacker.post(PING, headers={"X-Api-Key": malformed})
            assert response.status_code == 401
            assert "malformed" in response.json()["errors"][0]["message"]
    assert not [s for s in statements if "FROM api_keys" in s]

    # An unknown prefix is looked up once, then remembered for a while.
    with counting_statements(bystander) as statements:
        for _ in range(2):
            response = await bystander.post(PING, headers={"X-Api-Key": fake_key(7)})
            assert response.status_code == 401
    assert len([s for s in statements if "FROM api_keys" in s]) == 1


async def test_each_failure_is_logged_without_the_secret(
    bystander: Api, caplog: pytest.LogCaptureFixture
) -> None:
    good = await bystander.partner_headers(["members:read"])
    guess = wrong_secret(good["X-Api-Key"])
    caplog.clear()
    for _ in range(2):
        assert (await bystander.post(PING, headers={"X-Api-Key": guess})).status_code == 401
    refusals = [r for r in caplog.records if "credential refused" in r.getMessage()]
    assert len(refusals) == 2
    assert all(r.levelname == "WARNING" for r in refusals)
    prefix = guess.split("_")[1]
    assert prefix in caplog.text and SOMEONE_ELSE[0] in caplog.text
    assert guess.split("_", 2)[2] not in caplog.text
