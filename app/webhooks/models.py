"""What the webhook service answers with (no secret in any of them but NewSecret)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Endpoint:
    id: int
    url: str
    description: str
    event_types: tuple[str, ...]
    channel: str | None
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    rotating_until: datetime | None  # the previous secret still signs until then
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class NewSecret:
    """An endpoint with its new signing secret: shown this once, never again."""

    endpoint: Endpoint
    secret: str


@dataclass(frozen=True)
class Message:
    id: int
    endpoint_id: int
    webhook_id: str
    event_id: int
    event_type: str
    member_id: int | None
    status: str  # pending | delivered | failed
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class Attempt:
    id: int
    message_id: int
    webhook_id: str
    attempted_at: datetime
    status_code: int | None
    duration_ms: int
    outcome: str
    error: str | None
    response_excerpt: str | None


@dataclass(frozen=True)
class EndpointChanges:
    url: str | None = None
    description: str | None = None
    event_types: list[str] | None = None
    enabled: bool | None = None
