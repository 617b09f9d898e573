"""Managing endpoints, reading their delivery log, resending and recovering messages.

Staff manage every endpoint; a partner key manages only its own channel's (created for its
channel whatever it asks, and another channel's endpoint is NOT_FOUND, word for word as one that
does not exist). Which operations a caller may call at all is the permission table's business
(app/auth/permissions.py); this service checks ownership.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Select, func, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from app.auth.principal import Principal, PrincipalKind
from app.clock import Clock
from app.config import Settings
from app.errors import invalid, not_found
from app.members.channels import check_channel_name
from app.webhooks.addresses import check_url, networks
from app.webhooks.catalogue import check_event_types
from app.webhooks.dispatch import ensure_cursor
from app.webhooks.models import Attempt, Endpoint, EndpointChanges, Message, NewSecret
from app.webhooks.signing import message_id, new_secret
from app.webhooks.tables import webhook_attempts, webhook_endpoints, webhook_messages

MAX_DESCRIPTION = 200
ENDPOINT = "webhook endpoint"
MESSAGE = "webhook message"

_ENDPOINT_COLUMNS = [c for c in webhook_endpoints.c if c.name not in ("secret", "previous_secret")]
_MESSAGE_COLUMNS = [c for c in webhook_messages.c if c.name != "body"]


def _endpoint(row: Row[Any]) -> Endpoint:
    return Endpoint(
        id=row.id,
        url=row.url,
        description=row.description,
        event_types=tuple(row.event_types),
        channel=row.channel,
        enabled=row.enabled,
        disabled_reason=row.disabled_reason,
        failing_since=row.failing_since,
        rotating_until=row.previous_secret_expires_at,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _message(row: Row[Any]) -> Message:
    return Message(
        id=row.id,
        endpoint_id=row.endpoint_id,
        webhook_id=message_id(row.event_id),
        event_id=row.event_id,
        event_type=row.event_type,
        member_id=row.member_id,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
        created_at=row.created_at,
    )


def _attempt(row: Row[Any]) -> Attempt:
    return Attempt(
        id=row.id,
        message_id=row.message_id,
        webhook_id=message_id(row.event_id),
        attempted_at=row.attempted_at,
        status_code=row.status_code,
        duration_ms=row.duration_ms,
        outcome=row.outcome,
        error=row.error,
        response_excerpt=row.response_excerpt,
    )


def _check_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION:
        raise invalid(f"a description is at most {MAX_DESCRIPTION} characters", "description")
    return description


def _channel_for(actor: Principal, channel: str | None) -> str | None:
    """A partner's endpoints are its channel's, whatever it asks; staff choose (None: all)."""
    if actor.kind is PrincipalKind.PARTNER:
        if channel is not None and channel != actor.channel:
            raise invalid(f"a partner key manages only channel {actor.channel}", "channel")
        return actor.channel
    if channel is not None:
        check_channel_name(channel)
    return channel


def _manages(actor: Principal, channel: str | None) -> bool:
    if actor.kind is PrincipalKind.STAFF:
        return True
    return actor.kind is PrincipalKind.PARTNER and channel == actor.channel


class WebhookEndpoints:
    def __init__(self, conn: AsyncConnection, clock: Clock, settings: Settings) -> None:
        self.conn = conn
        self.clock = clock
        self.settings = settings

    def _check_url(self, url: str) -> str:
        check_url(url, networks(self.settings.webhook_allowed_networks))
        return url

    async def create(
        self,
        actor: Principal,
        url: str,
        event_types: list[str],
        *,
        channel: str | None = None,
        description: str = "",
        enabled: bool = True,
    ) -> NewSecret:
        owner = _channel_for(actor, channel)
        secret = new_secret()
        now = self.clock.now()
        row = (
            await self.conn.execute(
                webhook_endpoints.insert()
                .values(
                    url=self._check_url(url),
                    description=_check_description(description),
                    event_types=check_event_types(event_types, for_channel=owner is not None),
                    channel=owner,
                    enabled=enabled,
                    secret=secret,
                    created_by=actor.name,
                    created_at=now,
                    updated_at=now,
                )
                .returning(*_ENDPOINT_COLUMNS)
            )
        ).one()
        # The dispatcher starts from here if it never ran: events from now on are this
        # endpoint's, the outbox's history is not.
        await ensure_cursor(self.conn)
        return NewSecret(_endpoint(row), secret)

    async def _row(self, actor: Principal, endpoint_id: int, *, lock: bool = False) -> Row[Any]:
        query = select(*_ENDPOINT_COLUMNS).where(webhook_endpoints.c.id == endpoint_id)
        row = (await self.conn.execute(query.with_for_update() if lock else query)).first()
        if row is None or not _manages(actor, row.channel):
            raise not_found(ENDPOINT, endpoint_id, "endpointId")
        return row

    async def get(self, actor: Principal, endpoint_id: int) -> Endpoint:
        return _endpoint(await self._row(actor, endpoint_id))

    async def visible(self, actor: Principal, after_id: int, limit: int) -> list[Endpoint]:
        query = (
            select(*_ENDPOINT_COLUMNS)
            .where(webhook_endpoints.c.id > after_id)
            .order_by(webhook_endpoints.c.id)
            .limit(limit)
        )
        if actor.kind is PrincipalKind.PARTNER:
            query = query.where(webhook_endpoints.c.channel == actor.channel)
        elif actor.kind is not PrincipalKind.STAFF:
            return []
        return [_endpoint(row) for row in await self.conn.execute(query)]

    async def update(
        self, actor: Principal, endpoint_id: int, changes: EndpointChanges
    ) -> Endpoint:
        row = await self._row(actor, endpoint_id, lock=True)
        values: dict[str, Any] = {"updated_at": self.clock.now()}
        if changes.url is not None:
            values["url"] = self._check_url(changes.url)
        if changes.description is not None:
            values["description"] = _check_description(changes.description)
        if changes.event_types is not None:
            values["event_types"] = check_event_types(
                changes.event_types, for_channel=row.channel is not None
            )
        if changes.enabled is not None:
            values["enabled"] = changes.enabled
            if changes.enabled and not row.enabled:
                # A fresh start: its pending messages are attempted again at once.
                values.update(disabled_reason=None, failing_since=None)
                await self._due_now(endpoint_id)
            elif not changes.enabled:
                values["disabled_reason"] = f"disabled by {actor.name}"[:MAX_DESCRIPTION]
        updated = await self.conn.execute(
            webhook_endpoints.update()
            .where(webhook_endpoints.c.id == endpoint_id)
            .values(**values)
            .returning(*_ENDPOINT_COLUMNS)
        )
        return _endpoint(updated.one())

    async def _due_now(self, endpoint_id: int) -> None:
        await self.conn.execute(
            webhook_messages.update()
            .where(
                webhook_messages.c.endpoint_id == endpoint_id,
                webhook_messages.c.status == "pending",
            )
            .values(next_attempt_at=self.clock.now())
        )

    async def rotate_secret(
        self, actor: Principal, endpoint_id: int, overlap: timedelta | None = None
    ) -> NewSecret:
        """A new secret; the current one keeps signing (both signatures sent) for ``overlap``
        (``webhook_rotation_overlap_hours`` by default), so receivers can switch meanwhile."""
        if overlap is None:
            overlap = timedelta(hours=self.settings.webhook_rotation_overlap_hours)
        if overlap < timedelta(0) or overlap > timedelta(days=30):
            raise invalid("the overlap is between 0 and 30 days", "overlapHours")
        await self._row(actor, endpoint_id, lock=True)
        now = self.clock.now()
        secret = new_secret()
        row = (
            await self.conn.execute(
                webhook_endpoints.update()
                .where(webhook_endpoints.c.id == endpoint_id)
                .values(
                    previous_secret=webhook_endpoints.c.secret,
                    previous_secret_expires_at=now + overlap,
                    secret=secret,
                    updated_at=now,
                )
                .returning(*_ENDPOINT_COLUMNS)
            )
        ).one()
        return NewSecret(_endpoint(row), secret)

    def _managed(self, actor: Principal, endpoint_ids: Sequence[int]) -> Select[Any] | None:
        """The endpoints among ``endpoint_ids`` the actor manages (None: none at all)."""
        query = select(webhook_endpoints.c.id.label("owner")).where(
            webhook_endpoints.c.id == func.any(list(endpoint_ids))
        )
        if actor.kind is PrincipalKind.PARTNER:
            return query.where(webhook_endpoints.c.channel == actor.channel)
        return query if actor.kind is PrincipalKind.STAFF else None

    async def _pages(
        self, actor: Principal, endpoint_ids: Sequence[int], page: Select[Any]
    ) -> dict[int, list[Row[Any]]]:
        """``page`` (rows of one endpoint, correlated to ``webhook_endpoints``) for each of the
        endpoints the actor manages, in one statement: each endpoint managed is a key, with no
        rows when it has none; one not managed, or that does not exist, is absent."""
        managed = self._managed(actor, endpoint_ids)
        if managed is None or not endpoint_ids:
            return {}
        rows = page.lateral("page")
        query = (
            managed.add_columns(*rows.c)
            .select_from(webhook_endpoints.outerjoin(rows, true()))
            .order_by(webhook_endpoints.c.id, rows.c.id.desc())  # each page newest first
        )
        found: dict[int, list[Row[Any]]] = {}
        for row in await self.conn.execute(query):
            owned = found.setdefault(row.owner, [])
            if row.id is not None:
                owned.append(row)
        return found

    async def attempts_of(
        self, actor: Principal, endpoint_ids: Sequence[int], before_id: int | None, limit: int
    ) -> dict[int, list[Attempt]]:
        """Each endpoint's delivery log, newest first, ``limit`` attempts before ``before_id``,
        in one statement however many endpoints (absent: not the actor's, or no such one)."""
        page = (
            select(webhook_attempts, webhook_messages.c.event_id)
            .join(webhook_messages, webhook_messages.c.id == webhook_attempts.c.message_id)
            .where(webhook_attempts.c.endpoint_id == webhook_endpoints.c.id)
            .order_by(webhook_attempts.c.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            page = page.where(webhook_attempts.c.id < before_id)
        pages = await self._pages(actor, endpoint_ids, page)
        return {endpoint: [_attempt(r) for r in rows] for endpoint, rows in pages.items()}

    async def messages_of(
        self,
        actor: Principal,
        endpoint_ids: Sequence[int],
        before_id: int | None,
        limit: int,
        status: str | None = None,
    ) -> dict[int, list[Message]]:
        """Each endpoint's messages, newest first, as :meth:`attempts_of` reads its log."""
        page = (
            select(*_MESSAGE_COLUMNS)
            .where(webhook_messages.c.endpoint_id == webhook_endpoints.c.id)
            .order_by(webhook_messages.c.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            page = page.where(webhook_messages.c.id < before_id)
        if status is not None:
            if status not in ("pending", "delivered", "failed"):
                raise invalid("status is pending, delivered or failed", "status")
            page = page.where(webhook_messages.c.status == status)
        pages = await self._pages(actor, endpoint_ids, page)
        return {endpoint: [_message(r) for r in rows] for endpoint, rows in pages.items()}

    async def attempts(
        self, actor: Principal, endpoint_id: int, before_id: int | None, limit: int
    ) -> list[Attempt]:
        """One endpoint's delivery log, newest first."""
        found = await self.attempts_of(actor, [endpoint_id], before_id, limit)
        if endpoint_id not in found:
            raise not_found(ENDPOINT, endpoint_id, "endpointId")
        return found[endpoint_id]

    async def messages(
        self,
        actor: Principal,
        endpoint_id: int,
        before_id: int | None,
        limit: int,
        status: str | None = None,
    ) -> list[Message]:
        found = await self.messages_of(actor, [endpoint_id], before_id, limit, status)
        if endpoint_id not in found:
            raise not_found(ENDPOINT, endpoint_id, "endpointId")
        return found[endpoint_id]

    async def resend(self, actor: Principal, message: int) -> Message:
        """Send a message again now, whatever became of it, with a fresh schedule (same
        ``webhook-id``: a receiver that has it already drops it)."""
        found = (
            await self.conn.execute(
                select(webhook_endpoints.c.channel)
                .join(webhook_messages, webhook_messages.c.endpoint_id == webhook_endpoints.c.id)
                .where(webhook_messages.c.id == message)
                .with_for_update(of=webhook_messages)
            )
        ).first()
        if found is None or not _manages(actor, found.channel):
            raise not_found(MESSAGE, message, "messageId")
        row = (
            await self.conn.execute(
                webhook_messages.update()
                .where(webhook_messages.c.id == message)
                .values(status="pending", attempts=0, next_attempt_at=self.clock.now())
                .returning(*_MESSAGE_COLUMNS)
            )
        ).one()
        return _message(row)

    async def recover(self, actor: Principal, endpoint_id: int, since: datetime) -> int:
        """Every message of the endpoint given up (``failed``) since ``since``, sent again with
        a fresh schedule; how many."""
        if since.tzinfo is None:
            raise invalid("give the time with its offset", "since")
        await self._row(actor, endpoint_id)
        result = await self.conn.execute(
            webhook_messages.update()
            .where(
                webhook_messages.c.endpoint_id == endpoint_id,
                webhook_messages.c.status == "failed",
                webhook_messages.c.created_at >= since,
            )
            .values(status="pending", attempts=0, next_attempt_at=self.clock.now())
        )
        return int(result.rowcount or 0)
