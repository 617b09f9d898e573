"""A caller's webhook endpoints (a partner key: its channel's), one with its log."""

from __future__ import annotations

import strawberry

from app.graphql.core.context import Info
from app.graphql.core.fields import described_field
from app.graphql.core.inputs import parse_id
from app.graphql.core.pagination import Page
from app.graphql.webhooks.types import WebhookEndpointConnection, WebhookEndpointNode
from app.webhooks import usecases
from app.webhooks.models import Endpoint


def _endpoint_node(endpoint: Endpoint) -> WebhookEndpointNode:
    return WebhookEndpointNode(endpoint=endpoint)


@strawberry.type
class WebhookQueries:
    @described_field("Webhook endpoints, oldest first (a partner key: its channel's).")
    async def webhook_endpoints(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> WebhookEndpointConnection:
        ctx = info.context
        ctx.require("webhookEndpoints")
        page = Page.of("webhook-endpoint", first, after, ctx.runtime.settings.page_size_cap)
        rows = await usecases.list_endpoints(
            ctx.runtime, ctx.principal, after_id=page.after or 0, limit=page.fetch
        )
        return page.connection(WebhookEndpointConnection, rows, _endpoint_node)

    @described_field("One endpoint, with its messages and delivery log.")
    async def webhook_endpoint(self, info: Info, id: strawberry.ID) -> WebhookEndpointNode:
        ctx = info.context
        ctx.require("webhookEndpoint")
        endpoint_id = parse_id(str(id), "id")
        return _endpoint_node(await usecases.get_endpoint(ctx.runtime, ctx.principal, endpoint_id))
