"""Delivery end to end: the outbox → a real receiver on a loopback port, which verifies every
signature with the standardwebhooks library; the app's clock moves between rounds."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import event, select, text

from app.auth.principal import Principal
from app.clock import FrozenClock
from app.db import unit_of_work
from app.events.outbox import append_event, member_topic
from app.events.tables import events
from app.members.service import channels_of_members
from app.runtime import Runtime
from app.webhooks.catalogue import ENDPOINT_DISABLED, MEMBER_EVENTS
from app.webhooks.dispatch import dispatch_pending
from app.webhooks.endpoints import WebhookEndpoints
from app.webhooks.leases import lease_due
from app.webhooks.models import EndpointChanges
from app.webhooks.schedule import SCHEDULE, Outcome
from app.webhooks.tables import webhook_attempts, webhook_endpoints, webhook_messages
from app.webhooks.transport import Sender
from tests.webhooks.conftest import STAFF, create_endpoint, deliver, earn, member, tuned
from tests.webhooks.receiver import Receiver, Reply

LEASED = "SELECT count(*) FROM webhook_leases"


def later(delay: timedelta) -> timedelta:
    """Past a scheduled delay whatever its jitter (±10%)."""
    return delay * 1.1 + timedelta(seconds=1)


async def messages(rt: Runtime) -> list[dict[str, object]]:
    async with rt.engine.connect() as conn:
        rows = await conn.execute(select(webhook_messages).order_by(webhook_messages.c.id))
        return [dict(row._mapping) for row in rows]


async def test_every_member_event_type_arrives_signed_once_with_a_stable_id(
    wh_runtime: Runtime, sender: Sender, receiver: Receiver
) -> None:
    created = await create_endpoint(wh_runtime, receiver.url, sorted(MEMBER_EVENTS))
    receiver.secrets = [created.secret]
    member_id = await member(wh_runtime)  # member.registered, through the members domain
    await earn(wh_runtime, member_id, 100, "k-1")  # points.earned, through the ledger
    others = sorted(MEMBER_EVENTS - {"member.registered", "points.earned"})
    async with unit_of_work(wh_runtime.engine) as conn:
        for event_type in others:
            await append_event(conn, member_topic(member_id), event_type, {"note": event_type})

    assert set(await deliver(wh_runtime, sender)) == {Outcome.DELIVERED}
    assert await deliver(wh_runtime, sender) == []  # nothing twice

    async with wh_runtime.engine.connect() as conn:
        ids = dict((await conn.execute(select(events.c.type, events.c.id))).all())
    arrived = receiver.delivered()
    assert sorted(r.payload["type"] for r in arrived) == sorted(MEMBER_EVENTS)
    assert len(receiver.received) == len(MEMBER_EVENTS)
    for request in arrived:
        event_type = request.payload["type"]
        assert request.webhook_id == f"msg_{ids[event_type]}"
        assert request.payload["data"]["event_id"] == ids[event_type]
        assert request.payload["data"]["member_id"] == member_id
        assert request.verified_with == (created.secret,)
        assert request.headers["content-type"] == "application/json"


async def test_a_receiver_down_for_a_while_loses_nothing(
    wh_runtime: Runtime, sender: Sender, receiver: Receiver, clock: FrozenClock
) -> None:
    created = await create_endpoint(wh_runtime, receiver.url, ["points.earned"])
    receiver.secrets = [created.secret]
    down = {"value": True}
    receiver.script = lambda n, h: Reply(500, body=b"down") if down["value"] else Reply()
    member_id = await member(wh_runtime)
    for n in range(5):
        await earn(wh_runtime, member_id, 10 + n, f"k-{n}")

    assert await deliver(wh_runtime, sender) == [Outcome.RETRY] * 5  # the immediate attempt
    for step in SCHEDULE[1:4]:  # 5 s, 5 min, 30 min: down throughout
        assert await deliver(wh_runtime, sender) == []  # not due yet
        clock.advance(later(step))
        assert await deliver(wh_runtime, sender) == [Outcome.RETRY] * 5
    down["value"] = False
    clock.advance(later(SCHEDULE[4]))  # 2 h
    assert await deliver(wh_runtime, sender) == [Outcome.DELIVERED] * 5

    expected = {f"msg_{row['event_id']}" for row in await messages(wh_runtime)}
    assert len(expected) == 5
    assert {r.webhook_id for r in receiver.delivered()} == expected
    assert len(receiver.delivered()) == 5  # each delivered once
    assert {r.webhook_id for r in receiver.received} == expected  # retries: the same ids
    amounts = sorted(r.payload["data"]["entry"]["amount"] for r in receiver.delivered())
    assert amounts == [10, 11, 12, 13, 14]
    async with wh_runtime.engine.connect() as conn:
        log = (await conn.execute(select(webhook_attempts.c.status_code))).scalars().all()
        health = (await conn.execute(select(webhook_endpoints.c.failing_since))).scalar_one()
    assert sorted(log) == [200] * 5 + [500] * 20
    assert health is None  # healthy again


async def test_429_with_retry_after_is_honoured(
    wh_runtime: Runtime, sender: Sender, receiver: Receiver, clock: FrozenClock
) -> None:
    await create_endpoint(wh_runtime, receiver.url, ["points.earned"])
    receiver.script = lambda n, h: Reply(429, {"Retry-After": "120"}) if n == 1 else Reply()
    await earn(wh_runtime, await member(wh_runtime), 10, "k")

    assert await deliver(wh_runtime, sender) == [Outcome.RETRY]
    [message] = await messages(wh_runtime)
    assert message["next_attempt_at"] == clock.now() + timedelta(seconds=120)  # not 5 s
    clock.advance(timedelta(seconds=60))
    assert await deliver(wh_runtime, sender) == []
    clock.advance(timedelta(seconds=61))
    assert await deliver(wh_runtime, sender) == [Outcome.DELIVERED]
    assert len(receiver.received) == 2


async def test_410_disables_the_endpoint_and_tells_staff_by_an_event(
    wh_runtime: Runtime, sender: Sender, receiver: Receiver, clock: FrozenClock
) -> None:
    created = await create_endpoint(wh_runtime, receiver.url, ["points.earned"])
    gone = {"value": True}
    receiver.script = lambda n, h: Reply(410) if gone["value"] else Reply()
    member_id = await member(wh_runtime)
    await earn(wh_runtime, member_id, 10, "k-1")

    assert await deliver(wh_runtime, sender) == [Outcome.GONE]
    await earn(wh_runtime, member_id, 20, "k-2")
    clock.advance(timedelta(hours=1))
    assert await deliver(wh_runtime, sender) == []  # disabled: nothing is attempted
    async with wh_runtime.engine.connect() as conn:
        endpoint = (await conn.execute(select(webhook_endpoints))).one()
        told = (
            await conn.execute(
                select(events.c.topic, events.c.payload).where(events.c.type == ENDPOINT_DISABLED)
            )
        ).all()
    reason = "the receiver answered 410 Gone"
    assert not endpoint.enabled
    assert endpoint.disabled_reason == reason
    assert told == [
        (
            f"webhook:endpoint:{created.endpoint.id}",
            {
                "endpoint_id": created.endpoint.id,
                "channel": None,
                "reason": endpoint.disabled_reason,
            },
        )
    ]
    assert [m["status"] for m in await messages(wh_runtime)] == ["pending"]  # waits, not lost

    # Enabled again (the receiver is back): the waiting message goes at once.
    gone["value"] = False
    async with unit_of_work(wh_runtime.engine) as conn:
        await WebhookEndpoints(conn, clock, wh_runtime.settings).update(
            STAFF, created.endpoint.id, EndpointChanges(enabled=True)
        )
    assert await deliver(wh_runtime, sender) == [Outcome.DELIVERED]


async def test_an_endpoint_failing_for_days_is_disabled(
    wh_runtime: Runtime, sender: Sender, receiver: Receiver, clock: FrozenClock
) -> None:
    rt = tuned(wh_runtime, webhook_disable_after_hours=48)
    await create_endpoint(rt, receiver.url, ["points.earned"])
    receiver.script = lambda n, h: Reply(503)
    member_id = await member(rt)
    for day in range(4):
        await earn(rt, member_id, 10, f"day-{day}")
        await deliver(rt, sender)
        async with rt.engine.connect() as conn:
            enabled = (await conn.execute(select(webhook_endpoints.c.enabled))).scalar_one()
        assert enabled is (day < 2), day  # failing since day 0: disabled on day 2
        clock.advance(timedelta(days=1))


async def test_a_rotated_secret_verifies_during_the_overlap(
    wh_runtime: Runtime, sender: Sender, receiver: Receiver, clock: FrozenClock
) -> None:
    created = await create_endpoint(wh_runtime, receiver.url, ["points.earned"])
    old = created.secret
    async with unit_of_work(wh_runtime.engine) as conn:
        rotated = await WebhookEndpoints(conn, clock, wh_runtime.settings).rotate_secret(
            STAFF, created.endpoint.id, timedelta(hours=1)
        )
    new = rotated.secret
    assert new != old and new.startswith("whsec_")
    receiver.secrets = [old, new]
    member_id = await member(wh_runtime)
    await earn(wh_runtime, member_id, 10, "during")
    await deliver(wh_runtime, sender)
    clock.advance(timedelta(hours=1, seconds=1))
    await earn(wh_runtime, member_id, 20, "after")
    await deliver(wh_runtime, sender)

    during, after = receiver.delivered()
    assert during.verified_with == (old, new)  # a receiver with either secret accepts it
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert after.verified_with == (new,)  # the overlap is over: the old secret no longer signs


async def test_a_partner_endpoint_never_receives_another_channels_events(
    wh_runtime: Runtime, sender: Sender
) -> None:
    partner = Principal.of_partner("shop-co", "shop", {"webhooks:manage"})
    with Receiver() as shop, Receiver() as everything:
        await create_endpoint(wh_runtime, shop.url, ["points.earned"], actor=partner)
        await create_endpoint(wh_runtime, everything.url, ["points.earned"])
        ours = await member(wh_runtime, "shop", "a")
        theirs = await member(wh_runtime, "pos", "b")
        for n in range(3):
            await earn(wh_runtime, ours, 10 + n, f"ours-{n}")
            await earn(wh_runtime, theirs, 20 + n, f"theirs-{n}")
        await deliver(wh_runtime, sender)

        assert {r.payload["data"]["member_id"] for r in shop.received} == {ours}
        assert len(shop.received) == 3
        assert len(everything.received) == 6


async def test_a_private_address_is_refused_unless_allowed(
    wh_runtime: Runtime, receiver: Receiver, clock: FrozenClock
) -> None:
    strict = tuned(wh_runtime, webhook_allowed_networks=[])
    # A literal private address is refused when registered…
    for url in (
        receiver.url,
        "http://169.254.169.254/latest",
        "http://[::1]:80/",
        "http://10.0.0.1/",
    ):
        try:
            await create_endpoint(strict, url, ["points.earned"])
        except Exception as exc:
            assert getattr(exc, "code", None) == "INVALID_INPUT", url
        else:
            raise AssertionError(f"{url} was accepted")
    # …a name is checked where it resolves, at each delivery: localhost is 127.0.0.1.
    port = receiver.url.split(":")[2].split("/")[0]
    await create_endpoint(strict, f"http://localhost:{port}/hooks", ["points.earned"])
    await earn(strict, await member(strict), 10, "k")
    sender = Sender(strict.settings)
    try:
        assert await deliver(strict, sender) == [Outcome.RETRY]
    finally:
        await sender.aclose()
    assert receiver.received == []
    async with strict.engine.connect() as conn:
        error = (await conn.execute(select(webhook_attempts.c.error))).scalar_one()
    assert error is not None and error.startswith("address refused")

    # Allowed by the operator's list: delivered.
    clock.advance(timedelta(minutes=1))
    allowed = Sender(wh_runtime.settings)
    try:
        assert await deliver(wh_runtime, allowed) == [Outcome.DELIVERED]
    finally:
        await allowed.aclose()
    assert len(receiver.received) == 1


async def test_an_event_committed_late_with_a_smaller_id_is_not_skipped(
    wh_runtime: Runtime, sender: Sender, receiver: Receiver
) -> None:
    receiver.secrets = [(await create_endpoint(wh_runtime, receiver.url, ["points.earned"])).secret]
    first, second = await member(wh_runtime, ref="a"), await member(wh_runtime, ref="b")
    async with wh_runtime.engine.connect() as slow:
        await slow.begin()
        await append_event(slow, member_topic(first), "points.earned", {"n": 1})  # smaller id
        async with unit_of_work(wh_runtime.engine) as conn:
            await append_event(conn, member_topic(second), "points.earned", {"n": 2})

        async def commit_soon() -> None:
            await asyncio.sleep(0.3)
            await slow.commit()

        committing = asyncio.create_task(commit_soon())
        await dispatch_pending(wh_runtime, channels_of_members)  # waits for the slow one
        await committing
    await deliver(wh_runtime, sender)
    assert sorted(r.payload["data"]["n"] for r in receiver.delivered()) == [1, 2]


async def test_senders_at_once_never_attempt_one_message_twice(
    wh_runtime: Runtime, receiver: Receiver
) -> None:
    rt = tuned(wh_runtime, webhook_endpoint_concurrency=3)
    await create_endpoint(rt, receiver.url, ["points.earned"])
    member_id = await member(rt)
    for n in range(10):
        await earn(rt, member_id, 10, f"k-{n}")
    await dispatch_pending(rt, channels_of_members)
    leased = await asyncio.gather(*(lease_due(rt, 10) for _ in range(4)))
    ids = [lease.message_id for batch in leased for lease in batch]
    assert len(ids) == len(set(ids)) == 3  # the endpoint's bound, across senders
    async with rt.engine.connect() as conn:
        held = await conn.scalar(text(LEASED))
    assert held == 3


async def test_the_dispatcher_runs_the_same_statements_whatever_the_batch_size(
    wh_runtime: Runtime,
) -> None:
    # A statement whose text changes with the batch (an IN list, a multi-row VALUES) is
    # rendered and prepared by asyncpg again for each size: CPU on every pass of the worker.
    partner = Principal.of_partner("shop-co", "shop", {"webhooks:manage"})
    await create_endpoint(wh_runtime, "http://127.0.0.1:9/hooks", ["points.earned"], actor=partner)
    members = [await member(wh_runtime, "shop", f"m-{n}") for n in range(4)]
    texts: list[set[str]] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        texts[-1].add(statement)

    sync_engine = wh_runtime.engine.sync_engine
    for size in (1, 2, 3, 4):
        for n, member_id in enumerate(members[:size]):
            await earn(wh_runtime, member_id, 10, f"k-{size}-{n}")
        texts.append(set())
        event.listen(sync_engine, "before_cursor_execute", seen)
        try:
            assert await dispatch_pending(wh_runtime, channels_of_members) == size
        finally:
            event.remove(sync_engine, "before_cursor_execute", seen)
    assert all(t == texts[0] for t in texts), [sorted(t ^ texts[0]) for t in texts]


async def test_a_dispatch_pass_is_five_statements(wh_runtime: Runtime) -> None:
    # The horizon's snapshot with its first look at running transactions, the locked cursor,
    # the endpoints, the events, and the messages inserted with the cursor moved past them: not
    # the cursor created before every pass, nor a look of its own, nor an UPDATE of its own.
    await create_endpoint(wh_runtime, "http://127.0.0.1:9/hooks", ["points.earned"])
    member_id = await member(wh_runtime)
    await dispatch_pending(wh_runtime, channels_of_members)  # the cursor made
    await earn(wh_runtime, member_id, 10, "k-1")
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        polled = "pg_snapshot_xip" in statement and "pg_current_snapshot" not in statement
        if not polled:  # a wait for a transaction still running: as many as it takes
            statements.append(statement)

    sync_engine = wh_runtime.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", seen)
    try:
        assert await dispatch_pending(wh_runtime, channels_of_members) == 1
    finally:
        event.remove(sync_engine, "before_cursor_execute", seen)
    assert len(statements) == 5, statements
    assert len(await messages(wh_runtime)) == 1
