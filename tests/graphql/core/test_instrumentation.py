"""Metrics in one process: what each counter counts, read from the process's registry.

Also: postings (tests/ledger/test_service.py), rate-limit refusals (test_ratelimit.py), and a
scrape of a real multi-worker server (tests/e2e/test_operations.py).
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from app.clock import FrozenClock
from app.config import Profile, Settings
from tests.events.conftest import LiveApp
from tests.graphql.conftest import Api, api_with
from tests.metricsamples import growth
from tests.wsclient import MEMBER_EVENTS, graphql_ws


async def test_operations_are_counted_by_name_type_and_outcome(api: Api) -> None:
    query = "query Balance($m: ID!) { member(id: $m) { balance { available } } }"
    member = await api.register("pos", "counted")
    ok = growth("jifen_graphql_operations_total", operation="Balance", type="query", outcome="OK")
    timed = growth(
        "jifen_graphql_operation_duration_seconds_count", operation="Balance", type="query"
    )
    missing = growth(
        "jifen_graphql_operations_total", operation="Balance", type="query", outcome="NOT_FOUND"
    )
    unparsed = growth(
        "jifen_graphql_operations_total",
        operation="unparsed",
        type="unparsed",
        outcome="GRAPHQL_VALIDATION_FAILED",
    )

    await api.call(query, {"m": member}, api.staff_headers())
    await api.call(query, {"m": "999999"}, api.staff_headers())
    await api.call("query {", None, api.staff_headers())

    assert (ok(), missing(), timed(), unparsed()) == (1, 1, 2, 1)


async def test_a_refused_mutation_counts_under_its_code(api: Api) -> None:
    member = await api.register("pos", "refused")
    refused = growth(
        "jifen_graphql_operations_total",
        operation="anonymous",
        type="mutation",
        outcome="INVALID_INPUT",
    )
    result = await api.earn(member, -1, "k-negative")
    assert result["code"] == "INVALID_INPUT"
    assert refused() == 1


async def test_websockets_and_subscriptions_are_counted_while_open(live: LiveApp) -> None:
    member = await live.api.register("pos", "watcher")
    connections = growth("jifen_websocket_connections")
    running = growth("jifen_subscriptions_active", field="memberEvents")
    sent = growth("jifen_subscription_messages_total", field="memberEvents")

    async with graphql_ws(live.ws_url, token=live.member_token(member)) as ws:
        await ws.subscribe("1", MEMBER_EVENTS, {"m": member})
        await ws.events("1", 1)  # member.registered, replayed
        assert (connections(), running(), sent()) == (1, 1, 1)

    # The server notices the close on its own time: poll for it, within a bound.
    for _ in range(250):
        if (connections(), running()) == (0, 0):
            break
        await asyncio.sleep(0.02)
    assert (connections(), running(), sent()) == (0, 0, 1)


async def test_metrics_need_the_token_when_one_is_set(
    settings: Settings, clock: FrozenClock
) -> None:
    for profile, token, headers, status in [
        (Profile.DEVELOPMENT, None, {}, 200),
        (Profile.DEVELOPMENT, "t0ken", {}, 401),
        (Profile.DEVELOPMENT, "t0ken", {"Authorization": "Bearer wrong"}, 401),
        (Profile.PRODUCTION, "t0ken", {"Authorization": "Bearer t0ken"}, 200),
        (Profile.PRODUCTION, None, {}, 404),
        (Profile.PRODUCTION, "", {"Authorization": "Bearer "}, 404),
    ]:
        async with api_with(settings, clock, env=profile, metrics_token=token) as api:
            response = await api.client.get("/metrics", headers=headers)
        assert response.status_code == status, (profile, token, headers)
        if status == 200:
            assert "jifen_outbox_lag_seconds " in response.text


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [
        dict(record.msg)  # structlog hands stdlib logging its event as a dict
        for record in caplog.records
        if record.name == "app.access" and isinstance(record.msg, dict)
    ]


async def test_each_request_writes_one_access_line(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    member = await api.register("pos", "logged")
    caplog.clear()
    caplog.set_level(logging.INFO, logger="app.access")

    await api.call("query Mine { me { id } }", None, api.member_headers(member))
    await api.earn(member, -1, "k-refused")
    await api.post("{ me { id } }", None, {"Authorization": "Bearer forged"})

    lines = access_lines(caplog)
    assert [
        (line.get("operation"), line.get("type"), line["principal"], line["outcome"])
        for line in lines
    ] == [
        ("Mine", "query", "member", "OK"),
        ("anonymous", "mutation", "staff", "INVALID_INPUT"),
        (None, None, "refused", "UNAUTHENTICATED"),
    ]
    assert all(isinstance(line["ms"], float) for line in lines[:2])
