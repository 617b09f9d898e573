"""recoverWebhookMessages: after an outage, every message of an endpoint given up since a time
goes out again."""

from __future__ import annotations

from app.graphql.core.inputs import parse_id
from app.graphql.core.mutations import Call, mutation
from app.graphql.webhooks.inputs import RecoverWebhookMessagesInput
from app.graphql.webhooks.types import WebhookRecoveryPayload
from app.webhooks import usecases


@mutation(
    "Send again every message of an endpoint given up since a time.",
    result="WebhookRecoveryResult",
)
async def recover_webhook_messages(
    call: Call, input: RecoverWebhookMessagesInput
) -> WebhookRecoveryPayload:
    endpoint_id = parse_id(str(input.endpoint_id), "endpointId")
    count = await usecases.recover_messages(
        call.runtime, call.ctx.principal, endpoint_id, input.since
    )
    return WebhookRecoveryPayload(endpoint_id=input.endpoint_id, messages=count)
