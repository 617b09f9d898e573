"""Managing endpoints: who may see which, bad input changes nothing, the delivery log, resend
and recover."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.auth.principal import Principal
from app.clock import FrozenClock
from app.db import unit_of_work
from app.errors import DomainError, ErrorCode
from app.runtime import Runtime
from app.webhooks.endpoints import WebhookEndpoints
from app.webhooks.models import EndpointChanges
from app.webhooks.schedule import SCHEDULE, Outcome
from app.webhooks.tables import webhook_endpoints
from app.webhooks.transport import Sender
from tests.webhooks.conftest import STAFF, create_endpoint, deliver, earn, member
from tests.webhooks.receiver import Receiver, Reply

SHOP = Principal.of_partner("shop-co", "shop", {"webhooks:manage"})
POS = Principal.of_partner("pos-co", "pos", {"webhooks:manage"})


def service(rt: Runtime, conn: AsyncConnection) -> WebhookEndpoints:
    return WebhookEndpoints(conn, rt.clock, rt.settings)


async def test_a_partner_manages_only_its_own_channels_endpoints(
    wh_runtime: Runtime, receiver: Receiver
) -> None:
    ours = await create_endpoint(wh_runtime, receiver.url, ["points.earned"], actor=SHOP)
    staff = await create_endpoint(wh_runtime, receiver.url, ["points.earned"])
    assert ours.endpoint.channel == "shop" and staff.endpoint.channel is None
    async with unit_of_work(wh_runtime.engine) as conn:
        endpoints = service(wh_runtime, conn)
        assert [e.id for e in await endpoints.visible(SHOP, 0, 10)] == [ours.endpoint.id]
        assert await endpoints.visible(POS, 0, 10) == []
        assert len(await endpoints.visible(STAFF, 0, 10)) == 2
        for actor, endpoint_id in ((POS, ours.endpoint.id), (SHOP, staff.endpoint.id)):
            with pytest.raises(DomainError) as refused:
                await endpoints.get(actor, endpoint_id)
            assert refused.value.code is ErrorCode.NOT_FOUND
            assert refused.value.message == f"webhook endpoint {endpoint_id} does not exist"
    with pytest.raises(DomainError) as other_channel:
        await create_endpoint(
            wh_runtime, receiver.url, ["points.earned"], actor=SHOP, channel="pos"
        )
    assert other_channel.value.field == "channel"


async def test_bad_input_is_refused_and_changes_nothing(
    wh_runtime: Runtime, receiver: Receiver
) -> None:
    created = await create_endpoint(wh_runtime, receiver.url, ["points.earned"])
    wrong = [
        EndpointChanges(url="gopher://x"),
        EndpointChanges(event_types=["points.nope"]),
        EndpointChanges(description="x" * 201),
    ]
    for changes in wrong:
        with pytest.raises(DomainError) as refused:
            async with unit_of_work(wh_runtime.engine) as conn:
                await service(wh_runtime, conn).update(STAFF, created.endpoint.id, changes)
        assert refused.value.code is ErrorCode.INVALID_INPUT
    with pytest.raises(DomainError):
        await create_endpoint(wh_runtime, receiver.url, [], channel="shop")
    async with wh_runtime.engine.connect() as conn:
        row = (await conn.execute(select(webhook_endpoints))).one()
        count = await conn.scalar(select(func.count()).select_from(webhook_endpoints))
    assert (row.url, row.event_types, row.description, count) == (
        receiver.url,
        ["points.earned"],
        "",
        1,
    )


async def test_the_delivery_log_resend_and_recover(
    wh_runtime: Runtime, sender: Sender, receiver: Receiver, clock: FrozenClock
) -> None:
    created = await create_endpoint(wh_runtime, receiver.url, ["points.earned"])
    endpoint_id = created.endpoint.id
    receiver.script = lambda n, h: Reply(500, body=b"x" * 10_000)  # down for good
    started = clock.now()
    await earn(wh_runtime, await member(wh_runtime), 10, "k")
    for step in (timedelta(0), *SCHEDULE[1:]):
        clock.advance(step * 1.1 + timedelta(seconds=1))
        await deliver(wh_runtime, sender)
    async with unit_of_work(wh_runtime.engine) as conn:
        [message] = await service(wh_runtime, conn).messages(STAFF, endpoint_id, None, 10)
        log = await service(wh_runtime, conn).attempts(STAFF, endpoint_id, None, 3)
    assert (message.status, message.attempts) == ("failed", len(SCHEDULE))  # given up
    assert [a.outcome for a in log] == ["failed", "retry", "retry"]  # newest first
    assert log[0].status_code == 500 and log[0].response_excerpt == "x" * 500
    assert log[0].webhook_id == message.webhook_id == f"msg_{message.event_id}"

    receiver.script = lambda n, h: Reply()  # back
    async with unit_of_work(wh_runtime.engine) as conn:
        assert await service(wh_runtime, conn).recover(STAFF, endpoint_id, started) == 1
    assert await deliver(wh_runtime, sender) == [Outcome.DELIVERED]
    async with unit_of_work(wh_runtime.engine) as conn:
        again = await service(wh_runtime, conn).resend(STAFF, message.id)
        assert (again.status, again.attempts) == ("pending", 0)
        with pytest.raises(DomainError) as hidden:
            await service(wh_runtime, conn).resend(
                Principal.of_partner("p", "shop", set()), message.id
            )
        assert hidden.value.code is ErrorCode.NOT_FOUND
    assert await deliver(wh_runtime, sender) == [Outcome.DELIVERED]
    ids = {r.webhook_id for r in receiver.received}
    assert ids == {message.webhook_id}  # every attempt, resend included: one webhook-id
