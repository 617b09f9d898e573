"""resendWebhookMessage: one message out again, on a fresh schedule, under the same webhook-id
(the receiver's dedup key)."""

from __future__ import annotations

from app.graphql.core.inputs import parse_id
from app.graphql.core.mutations import Call, mutation
from app.graphql.webhooks.inputs import ResendWebhookMessageInput
from app.graphql.webhooks.types import WebhookMessageNode, WebhookMessagePayload
from app.webhooks import usecases


@mutation(
    "Send one message again now, with a fresh schedule (same webhook-id).",
    result="WebhookMessageResult",
)
async def resend_webhook_message(
    call: Call, input: ResendWebhookMessageInput
) -> WebhookMessagePayload:
    message_id = parse_id(str(input.message_id), "messageId")
    message = await usecases.resend_message(call.runtime, call.ctx.principal, message_id)
    return WebhookMessagePayload(message=WebhookMessageNode.of(message))
