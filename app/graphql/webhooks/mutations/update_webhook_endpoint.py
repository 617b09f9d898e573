"""updateWebhookEndpoint: change an endpoint, disable it, or enable it again."""

from __future__ import annotations

from app.graphql.core.inputs import parse_id
from app.graphql.core.mutations import Call, mutation
from app.graphql.webhooks.inputs import UpdateWebhookEndpointInput
from app.graphql.webhooks.types import WebhookEndpointNode, WebhookEndpointPayload
from app.webhooks import usecases


@mutation(
    "Change an endpoint; enabling it sends what waited at once.", result="WebhookEndpointResult"
)
async def update_webhook_endpoint(
    call: Call, input: UpdateWebhookEndpointInput
) -> WebhookEndpointPayload:
    endpoint_id = parse_id(str(input.endpoint_id), "endpointId")
    updated = await usecases.update_endpoint(
        call.runtime, call.ctx.principal, endpoint_id, input.changes()
    )
    return WebhookEndpointPayload(endpoint=WebhookEndpointNode(endpoint=updated))
