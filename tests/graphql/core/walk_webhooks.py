"""The permission walk's requests for the webhook operations (core/test_permissions.py).

The endpoints acted on by id belong to channel "pos" (member A's): a partner of another channel
is told they do not exist. Listing and creating act on the caller's own channel.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from app.webhooks.tables import webhook_messages

if TYPE_CHECKING:
    from tests.graphql.core.test_permissions import World

PAYLOAD = "{ __typename ... on MutationError { code message } }"
OWN_CHANNEL = frozenset({"webhookEndpoints", "createWebhookEndpoint"})
_counter = itertools.count()


async def make_endpoint(world: World) -> str:
    data = await world.api.admin(
        """mutation { createWebhookEndpoint(input: {url: "https://example.com/walk",
             eventTypes: ["points.earned"], channel: "pos"}) {
             ... on WebhookSecretPayload { endpoint { id } } } }"""
    )
    endpoint_id: str = data["createWebhookEndpoint"]["endpoint"]["id"]
    return endpoint_id


async def make_message(world: World) -> str:
    endpoint_id = int(await make_endpoint(world))
    now = datetime.now(UTC)
    async with world.api.runtime.engine.begin() as conn:
        message_id = await conn.scalar(
            webhook_messages.insert()
            .values(
                endpoint_id=endpoint_id,
                event_id=next(_counter) + 1,
                event_type="points.earned",
                member_id=int(world.member_a),
                body=b"{}",
                event_created_at=now,
                next_attempt_at=now,
                created_at=now,
            )
            .returning(webhook_messages.c.id)
        )
    return str(message_id)


async def webhook_request_for(operation: str, world: World) -> tuple[str, dict[str, Any]] | None:
    if operation == "webhookEndpoints":
        return "{ webhookEndpoints { edges { node { id } } } }", {}
    if operation == "createWebhookEndpoint":
        return (
            f"""mutation {{ createWebhookEndpoint(input: {{url: "https://example.com/new",
                 eventTypes: ["points.earned"]}}) {PAYLOAD} }}""",
            {},
        )
    if operation == "webhookEndpoint":
        return "query($e: ID!) { webhookEndpoint(id: $e) { id } }", {
            "e": await make_endpoint(world)
        }
    if operation == "updateWebhookEndpoint":
        return (
            f"""mutation($e: ID!) {{ updateWebhookEndpoint(input: {{endpointId: $e,
                 description: "walk"}}) {PAYLOAD} }}""",
            {"e": await make_endpoint(world)},
        )
    if operation == "rotateWebhookSecret":
        return (
            f"mutation($e: ID!) {{ rotateWebhookSecret(input: {{endpointId: $e}}) {PAYLOAD} }}",
            {"e": await make_endpoint(world)},
        )
    if operation == "resendWebhookMessage":
        return (
            f"mutation($m: ID!) {{ resendWebhookMessage(input: {{messageId: $m}}) {PAYLOAD} }}",
            {"m": await make_message(world)},
        )
    if operation == "recoverWebhookMessages":
        return (
            f"""mutation($e: ID!) {{ recoverWebhookMessages(input: {{endpointId: $e,
                 since: "2026-01-01T00:00:00Z"}}) {PAYLOAD} }}""",
            {"e": await make_endpoint(world)},
        )
    return None
