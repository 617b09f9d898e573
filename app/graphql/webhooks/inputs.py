"""The webhook inputs: an endpoint as a partner describes it, a rotation, a resend, a recovery."""

from __future__ import annotations

from datetime import datetime, timedelta

import strawberry

from app.errors import invalid
from app.webhooks.models import EndpointChanges

MAX_OVERLAP_HOURS = 24 * 30


@strawberry.input
class CreateWebhookEndpointInput:
    url: str
    event_types: list[str]
    channel: str | None = strawberry.field(
        default=None, description="Staff: whose members' events; a partner's is its own."
    )
    description: str = ""
    enabled: bool = True


@strawberry.input
class UpdateWebhookEndpointInput:
    endpoint_id: strawberry.ID
    url: str | None = None
    event_types: list[str] | None = None
    description: str | None = None
    enabled: bool | None = None

    def changes(self) -> EndpointChanges:
        return EndpointChanges(
            url=self.url,
            description=self.description,
            event_types=self.event_types,
            enabled=self.enabled,
        )


@strawberry.input
class RotateWebhookSecretInput:
    endpoint_id: strawberry.ID
    overlap_hours: float | None = strawberry.field(
        default=None, description="How long the old secret keeps signing too (default 24)."
    )

    def overlap(self) -> timedelta | None:
        hours = self.overlap_hours
        if hours is None:
            return None
        if not 0 <= hours <= MAX_OVERLAP_HOURS:
            raise invalid(f"overlapHours is between 0 and {MAX_OVERLAP_HOURS}", "overlapHours")
        return timedelta(hours=hours)


@strawberry.input
class ResendWebhookMessageInput:
    message_id: strawberry.ID


@strawberry.input
class RecoverWebhookMessagesInput:
    endpoint_id: strawberry.ID
    since: datetime = strawberry.field(description="Messages made since then, given up, again.")
