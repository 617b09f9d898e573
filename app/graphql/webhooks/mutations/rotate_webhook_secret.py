"""rotateWebhookSecret: a new signing secret; the old one keeps signing for the overlap, so a
receiver can switch without dropping a message."""

from __future__ import annotations

from app.graphql.core.inputs import parse_id
from app.graphql.core.mutations import Call, mutation
from app.graphql.webhooks.inputs import RotateWebhookSecretInput
from app.graphql.webhooks.types import WebhookSecretPayload
from app.webhooks import usecases


@mutation(
    "A new signing secret (shown once); the old one signs too meanwhile.",
    result="WebhookSecretResult",
)
async def rotate_webhook_secret(
    call: Call, input: RotateWebhookSecretInput
) -> WebhookSecretPayload:
    endpoint_id = parse_id(str(input.endpoint_id), "endpointId")
    rotated = await usecases.rotate_secret(
        call.runtime, call.ctx.principal, endpoint_id, input.overlap()
    )
    return WebhookSecretPayload.of(rotated)
