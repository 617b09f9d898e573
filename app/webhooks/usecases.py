"""Webhook use cases for the API: each in one transaction (app/webhooks/endpoints.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from app.auth.principal import Principal
from app.db import unit_of_work
from app.runtime import Runtime
from app.webhooks.endpoints import WebhookEndpoints
from app.webhooks.models import Attempt, Endpoint, EndpointChanges, Message, NewSecret


async def create_endpoint(
    rt: Runtime,
    actor: Principal,
    *,
    url: str,
    event_types: list[str],
    channel: str | None,
    description: str,
    enabled: bool,
) -> NewSecret:
    async with unit_of_work(rt.engine) as conn:
        return await WebhookEndpoints(conn, rt.clock, rt.settings).create(
            actor, url, event_types, channel=channel, description=description, enabled=enabled
        )


async def update_endpoint(
    rt: Runtime, actor: Principal, endpoint_id: int, changes: EndpointChanges
) -> Endpoint:
    async with unit_of_work(rt.engine) as conn:
        return await WebhookEndpoints(conn, rt.clock, rt.settings).update(
            actor, endpoint_id, changes
        )


async def rotate_secret(
    rt: Runtime, actor: Principal, endpoint_id: int, overlap: timedelta | None
) -> NewSecret:
    async with unit_of_work(rt.engine) as conn:
        return await WebhookEndpoints(conn, rt.clock, rt.settings).rotate_secret(
            actor, endpoint_id, overlap
        )


async def resend_message(rt: Runtime, actor: Principal, message_id: int) -> Message:
    async with unit_of_work(rt.engine) as conn:
        return await WebhookEndpoints(conn, rt.clock, rt.settings).resend(actor, message_id)


async def recover_messages(rt: Runtime, actor: Principal, endpoint_id: int, since: datetime) -> int:
    async with unit_of_work(rt.engine) as conn:
        return await WebhookEndpoints(conn, rt.clock, rt.settings).recover(
            actor, endpoint_id, since
        )


async def get_endpoint(rt: Runtime, actor: Principal, endpoint_id: int) -> Endpoint:
    async with rt.engine.connect() as conn:
        return await WebhookEndpoints(conn, rt.clock, rt.settings).get(actor, endpoint_id)


async def list_endpoints(
    rt: Runtime, actor: Principal, *, after_id: int, limit: int
) -> list[Endpoint]:
    async with rt.engine.connect() as conn:
        return await WebhookEndpoints(conn, rt.clock, rt.settings).visible(actor, after_id, limit)


async def list_attempts(
    rt: Runtime,
    actor: Principal,
    endpoint_ids: Sequence[int],
    *,
    before_id: int | None,
    limit: int,
) -> dict[int, list[Attempt]]:
    """The delivery logs of many endpoints in one statement (DataLoaders): an endpoint the
    actor may not see, or that does not exist, is absent."""
    async with rt.engine.connect() as conn:
        return await WebhookEndpoints(conn, rt.clock, rt.settings).attempts_of(
            actor, endpoint_ids, before_id, limit
        )


async def list_messages(
    rt: Runtime,
    actor: Principal,
    endpoint_ids: Sequence[int],
    *,
    before_id: int | None,
    limit: int,
    status: str | None,
) -> dict[int, list[Message]]:
    """The messages of many endpoints in one statement, as :func:`list_attempts`."""
    async with rt.engine.connect() as conn:
        return await WebhookEndpoints(conn, rt.clock, rt.settings).messages_of(
            actor, endpoint_ids, before_id, limit, status
        )
