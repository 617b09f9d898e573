"""Partner webhooks as the API shows them: endpoints, the messages owed to them and the delivery
log (docs/WEBHOOKS.md). Ownership by channel is the service's: these only read and page."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.graphql.core.context import Info
from app.graphql.core.fields import described_field, node_id, optional_id
from app.graphql.core.pagination import Connection, Page
from app.graphql.webhooks.dataloaders import LogPage, endpoint_attempts, endpoint_messages
from app.webhooks.models import Attempt, Endpoint, Message, NewSecret


@strawberry.type(name="WebhookAttempt", description="One attempt to deliver a message.")
class WebhookAttemptNode:
    id: strawberry.ID
    message_id: strawberry.ID
    webhook_id: str = strawberry.field(description="The message's webhook-id header.")
    attempted_at: datetime
    status_code: int | None = strawberry.field(description="None when no answer came.")
    duration_ms: int
    outcome: str = strawberry.field(description="delivered, retry, gone (410) or failed.")
    error: str | None
    response_excerpt: str | None = strawberry.field(
        description="The answer's first 500 characters."
    )

    @classmethod
    def of(cls, attempt: Attempt) -> WebhookAttemptNode:
        return cls(
            id=node_id(attempt.id),
            message_id=node_id(attempt.message_id),
            webhook_id=attempt.webhook_id,
            attempted_at=attempt.attempted_at,
            status_code=attempt.status_code,
            duration_ms=attempt.duration_ms,
            outcome=attempt.outcome,
            error=attempt.error,
            response_excerpt=attempt.response_excerpt,
        )


@strawberry.type(name="WebhookMessage", description="An event owed to an endpoint.")
class WebhookMessageNode:
    id: strawberry.ID
    webhook_id: str = strawberry.field(description="msg_<event id>: the receiver's dedup key.")
    event_id: strawberry.ID
    event_type: str
    member_id: strawberry.ID | None
    status: str = strawberry.field(description="pending, delivered or failed (given up).")
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, message: Message) -> WebhookMessageNode:
        return cls(
            id=node_id(message.id),
            webhook_id=message.webhook_id,
            event_id=node_id(message.event_id),
            event_type=message.event_type,
            member_id=optional_id(message.member_id),
            status=message.status,
            attempts=message.attempts,
            next_attempt_at=message.next_attempt_at,
            delivered_at=message.delivered_at,
            created_at=message.created_at,
        )


@strawberry.type
class WebhookAttemptConnection(Connection[WebhookAttemptNode]):
    pass


@strawberry.type
class WebhookMessageConnection(Connection[WebhookMessageNode]):
    pass


@strawberry.type(name="WebhookEndpoint", description="Where a partner's webhooks go.")
class WebhookEndpointNode:
    endpoint: strawberry.Private[Endpoint]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return node_id(self.endpoint.id)

    @strawberry.field
    def url(self) -> str:
        return self.endpoint.url

    @strawberry.field
    def description(self) -> str:
        return self.endpoint.description

    @strawberry.field
    def event_types(self) -> list[str]:
        return list(self.endpoint.event_types)

    @described_field("Whose members' events it receives; null: every member's (staff).")
    def channel(self) -> str | None:
        return self.endpoint.channel

    @strawberry.field
    def enabled(self) -> bool:
        return self.endpoint.enabled

    @described_field("Why it was disabled (410, days of failures, or by whom).")
    def disabled_reason(self) -> str | None:
        return self.endpoint.disabled_reason

    @described_field("Since when every attempt failed; null when the last one succeeded.")
    def failing_since(self) -> datetime | None:
        return self.endpoint.failing_since

    @described_field("Until when the previous secret also signs (after a rotation).")
    def rotating_until(self) -> datetime | None:
        return self.endpoint.rotating_until

    @strawberry.field
    def created_by(self) -> str:
        return self.endpoint.created_by

    @strawberry.field
    def created_at(self) -> datetime:
        return self.endpoint.created_at

    @described_field("The delivery log: every attempt, newest first.")
    async def attempts(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> WebhookAttemptConnection:
        ctx = info.context
        page = Page.of("webhook-attempt", first, after, ctx.runtime.settings.page_size_cap)
        rows = await ctx.loaders.of(endpoint_attempts).load(
            LogPage(ctx.principal, self.endpoint.id, before_id=page.after, limit=page.fetch)
        )
        return page.connection(WebhookAttemptConnection, rows, WebhookAttemptNode.of)

    @described_field("Its messages, newest first; status: pending, delivered or failed.")
    async def messages(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: str | None = None,
    ) -> WebhookMessageConnection:
        ctx = info.context
        page = Page.of("webhook-message", first, after, ctx.runtime.settings.page_size_cap)
        rows = await ctx.loaders.of(endpoint_messages).load(
            LogPage(ctx.principal, self.endpoint.id, page.after, page.fetch, status)
        )
        return page.connection(WebhookMessageConnection, rows, WebhookMessageNode.of)


@strawberry.type
class WebhookEndpointConnection(Connection[WebhookEndpointNode]):
    pass


@strawberry.type(description="An endpoint with its signing secret: shown this once only.")
class WebhookSecretPayload:
    endpoint: WebhookEndpointNode
    secret: str = strawberry.field(description="whsec_…: store it now, it is not shown again.")

    @classmethod
    def of(cls, created: NewSecret) -> WebhookSecretPayload:
        return cls(endpoint=WebhookEndpointNode(endpoint=created.endpoint), secret=created.secret)


@strawberry.type
class WebhookEndpointPayload:
    endpoint: WebhookEndpointNode


@strawberry.type
class WebhookMessagePayload:
    message: WebhookMessageNode


@strawberry.type
class WebhookRecoveryPayload:
    endpoint_id: strawberry.ID
    messages: int = strawberry.field(description="How many given-up messages go out again.")
