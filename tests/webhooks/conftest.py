"""Webhook tests: a real receiver on a loopback port, the real database, the app's clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.principal import Principal, Role
from app.clock import FrozenClock
from app.config import Settings
from app.db import unit_of_work
from app.ledger.commands import Earn
from app.ledger.models import Actor
from app.ledger.usecases import earn_points
from app.members.service import channels_of_members
from app.members.usecases import register_member
from app.runtime import Runtime
from app.webhooks.endpoints import WebhookEndpoints
from app.webhooks.models import NewSecret
from app.webhooks.runner import deliver_round
from app.webhooks.schedule import Outcome
from app.webhooks.transport import Sender
from tests.webhooks.receiver import Receiver

STAFF = Principal.staff("alice", {Role.ADMIN})
SYSTEM = Actor(principal="staff:alice", kind="staff")
LOOPBACK = ["127.0.0.1/32"]


def webhook_settings(settings: Settings, **changes: object) -> Settings:
    """The session's settings with loopback allowed and short timeouts."""
    values: dict[str, object] = {
        "webhook_allowed_networks": LOOPBACK,
        "webhook_connect_timeout_seconds": 1.0,
        "webhook_timeout_seconds": 2.0,
        "webhook_lease_seconds": 5.0,
        **changes,
    }
    return settings.model_copy(update=values)


def tuned(rt: Runtime, **changes: object) -> Runtime:
    """The runtime with some settings changed."""
    return Runtime(rt.settings.model_copy(update=changes), rt.engine, rt.redis, rt.clock)


@pytest.fixture
def wh_runtime(
    settings: Settings, engine: AsyncEngine, redis: Redis, clock: FrozenClock
) -> Runtime:
    return Runtime(webhook_settings(settings), engine, redis, clock)


@pytest.fixture
async def sender(wh_runtime: Runtime) -> AsyncIterator[Sender]:
    sender = Sender(wh_runtime.settings)
    yield sender
    await sender.aclose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


async def create_endpoint(
    rt: Runtime,
    url: str,
    event_types: list[str],
    *,
    actor: Principal = STAFF,
    channel: str | None = None,
) -> NewSecret:
    async with unit_of_work(rt.engine) as conn:
        return await WebhookEndpoints(conn, rt.clock, rt.settings).create(
            actor, url, event_types, channel=channel
        )


async def member(rt: Runtime, channel: str = "shop", ref: str = "m-1") -> int:
    return (await register_member(rt, channel=channel, external_ref=ref)).member.id


async def earn(rt: Runtime, member_id: int, amount: int, key: str) -> None:
    await earn_points(
        rt, SYSTEM, Earn(member_id=member_id, amount=amount, reason="test"), idempotency_key=key
    )


async def deliver(rt: Runtime, sender: Sender) -> list[Outcome]:
    return await deliver_round(rt, sender, channels_of_members)
