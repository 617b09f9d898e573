"""The webhook mutations, one a module; webhooks' share of the Mutation type."""

from __future__ import annotations

import strawberry

from app.graphql.webhooks.mutations.create_webhook_endpoint import create_webhook_endpoint
from app.graphql.webhooks.mutations.recover_webhook_messages import recover_webhook_messages
from app.graphql.webhooks.mutations.resend_webhook_message import resend_webhook_message
from app.graphql.webhooks.mutations.rotate_webhook_secret import rotate_webhook_secret
from app.graphql.webhooks.mutations.update_webhook_endpoint import update_webhook_endpoint


@strawberry.type
class WebhookMutations:
    create_webhook_endpoint = create_webhook_endpoint
    update_webhook_endpoint = update_webhook_endpoint
    rotate_webhook_secret = rotate_webhook_secret
    resend_webhook_message = resend_webhook_message
    recover_webhook_messages = recover_webhook_messages
