"""createWebhookEndpoint: register where a partner's webhooks go; the secret is answered once."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.webhooks.inputs import CreateWebhookEndpointInput
from app.graphql.webhooks.types import WebhookSecretPayload
from app.webhooks import usecases


@mutation(
    "Register an endpoint; the answer carries its secret, shown only once.",
    result="WebhookSecretResult",
)
async def create_webhook_endpoint(
    call: Call, input: CreateWebhookEndpointInput
) -> WebhookSecretPayload:
    created = await usecases.create_endpoint(
        call.runtime,
        call.ctx.principal,
        url=input.url,
        event_types=input.event_types,
        channel=input.channel,
        description=input.description,
        enabled=input.enabled,
    )
    return WebhookSecretPayload.of(created)
