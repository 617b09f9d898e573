"""The webhook endpoints, an endpoint's messages and its delivery log read in a fixed number of
statements, however many rows the page holds."""

from __future__ import annotations

from app.webhooks.tables import webhook_attempts, webhook_messages
from tests.graphql.conftest import Api
from tests.graphql.statements import assert_same_statements

CREATE = """mutation($url: String!) { createWebhookEndpoint(input: {url: $url,
  eventTypes: ["points.earned"], channel: "pos"}) {
  ... on WebhookSecretPayload { endpoint { id } } } }"""
ENDPOINTS = """query($n: Int!) { webhookEndpoints(first: $n) {
  edges { cursor node { id url channel eventTypes enabled failingSince } }
  pageInfo { hasNextPage } } }"""
LOG = """query($e: ID!, $n: Int!) { webhookEndpoint(id: $e) { id
  messages(first: $n) { edges { node { id webhookId status attempts memberId } }
                        pageInfo { hasNextPage } }
  attempts(first: $n) { edges { node { id webhookId statusCode outcome } }
                        pageInfo { hasNextPage } } } }"""


ENDPOINTS_WITH_LOGS = """query($n: Int!) { webhookEndpoints(first: $n) { edges { node { id
  messages(first: 3) { edges { node { id webhookId status } } pageInfo { hasNextPage } }
  pending: messages(first: 2, status: "pending") { edges { node { id } } }
  attempts(first: 3) { edges { node { id statusCode outcome } } pageInfo { hasNextPage } }
} } } }"""


async def make_endpoint(api: Api, n: int) -> str:
    data = await api.admin(CREATE, {"url": f"https://example.com/hooks/{n}"})
    endpoint_id: str = data["createWebhookEndpoint"]["endpoint"]["id"]
    return endpoint_id


async def test_a_page_of_endpoints_takes_the_same_statements_for_one_or_five(api: Api) -> None:
    for n in range(6):
        await make_endpoint(api, n)
    await assert_same_statements(api, ENDPOINTS, {"n": 1}, {"n": 5}, api.staff_headers("analyst"))


async def log_messages(api: Api, endpoint_id: str, count: int) -> None:
    """``count`` messages of the endpoint, each with one failed attempt."""
    now = api.runtime.clock.now()
    async with api.runtime.engine.begin() as conn:
        for event_id in range(1, count + 1):
            message_id = await conn.scalar(
                webhook_messages.insert()
                .values(
                    endpoint_id=int(endpoint_id),
                    event_id=event_id,
                    event_type="points.earned",
                    body=b"{}",
                    event_created_at=now,
                    next_attempt_at=now,
                    created_at=now,
                )
                .returning(webhook_messages.c.id)
            )
            await conn.execute(
                webhook_attempts.insert().values(
                    message_id=message_id,
                    endpoint_id=int(endpoint_id),
                    attempted_at=now,
                    status_code=500,
                    duration_ms=3,
                    outcome="retry",
                )
            )


async def test_an_endpoints_messages_and_log_take_the_same_statements_for_one_or_five(
    api: Api,
) -> None:
    endpoint_id = await make_endpoint(api, 0)
    await log_messages(api, endpoint_id, 6)
    await assert_same_statements(
        api,
        LOG,
        {"e": endpoint_id, "n": 1},
        {"e": endpoint_id, "n": 5},
        api.staff_headers("analyst"),
    )


async def test_a_page_of_endpoints_with_their_logs_takes_the_same_statements_for_one_or_five(
    api: Api,
) -> None:
    """The messages and log of every endpoint of the page are read by DataLoaders: a statement
    per list field, not per endpoint."""
    for n in range(6):
        await log_messages(api, await make_endpoint(api, n), 4)
    headers = api.staff_headers("analyst")
    count = await assert_same_statements(api, ENDPOINTS_WITH_LOGS, {"n": 1}, {"n": 5}, headers)
    assert count <= 4  # the endpoints, their messages (twice: two pagings) and their attempts
    body = await api.call(ENDPOINTS_WITH_LOGS, {"n": 5}, headers)
    nodes = [edge["node"] for edge in body["data"]["webhookEndpoints"]["edges"]]
    assert len(nodes) == 5
    for node in nodes:  # each endpoint its own page, newest first
        messages = [edge["node"]["id"] for edge in node["messages"]["edges"]]
        assert len(messages) == 3 and messages == sorted(messages, key=int, reverse=True)
        assert node["messages"]["pageInfo"]["hasNextPage"] is True
        assert len(node["pending"]["edges"]) == 2
        assert len(node["attempts"]["edges"]) == 3
        # the same page as the endpoint read alone
        alone = await api.call(LOG, {"e": node["id"], "n": 3}, headers)
        assert alone["data"]["webhookEndpoint"]["messages"]["edges"] == [
            {"node": {**edge["node"], "attempts": 0, "memberId": None}}
            for edge in node["messages"]["edges"]
        ]
