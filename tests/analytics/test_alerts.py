"""The anomaly detector on the database: a redemption surge fires on an injected surge and not
on normal traffic, once per hour; a member earning far above its tier's median earner fires,
its peers do not; budgets nearly spent fire once; refused credentials past the threshold fire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import text

from app.analytics.alerts import (
    AlertStatus,
    acknowledge_alert,
    check_anomalies,
    list_alerts,
    note_credential_failure,
)
from app.clock import FrozenClock
from app.errors import DomainError, ErrorCode
from app.ledger import usecases as ledger
from app.ledger.commands import Earn
from app.ledger.models import Actor
from app.mall import usecases as mall
from app.mall.catalogue import ItemSpec, create_item
from app.mall.policy import ItemKind
from app.members import usecases as members
from app.runtime import Runtime
from app.segments.campaigns import run_campaign, start_campaign
from app.segments.usecases import recompute_segments

STAFF = Actor("staff:tester", "test", frozenset({"admin"}), kind="staff")
NOON = datetime(2027, 3, 1, 4, 0, tzinfo=UTC)


def tuned(rt: Runtime, **changes: object) -> Runtime:
    return Runtime(rt.settings.model_copy(update=changes), rt.engine, rt.redis, rt.clock)


async def member_with(rt: Runtime, points: int) -> int:
    done = await members.register_member(rt, channel="pos", external_ref=uuid4().hex)
    if points:
        await ledger.earn_points(
            rt,
            STAFF,
            Earn(member_id=done.member.id, amount=points, reason="t"),
            idempotency_key=uuid4().hex,
        )
    return done.member.id


async def alerts(rt: Runtime) -> list[dict[str, Any]]:
    async with rt.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT type, payload FROM events WHERE topic = 'alerts' ORDER BY id")
        )
        return [{"type": r.type, **r.payload} for r in rows]


async def redeem(rt: Runtime, member_id: int, item_id: int, quantity: int) -> None:
    await mall.place_redemption(
        rt,
        Actor(f"member:{member_id}", "app", kind="member"),
        member_id=member_id,
        item_id=item_id,
        quantity=quantity,
        idempotency_key=uuid4().hex,
    )


async def test_a_redemption_surge_fires_on_an_injected_surge_and_not_on_normal_traffic(
    runtime: Runtime, clock: FrozenClock
) -> None:
    rt = tuned(
        runtime,
        alert_baseline_days=1,
        alert_redemption_surge_factor=5.0,
        alert_redemption_surge_min=5,
    )
    clock.set(NOON - timedelta(days=1, hours=2))
    buyer = await member_with(rt, 1_000_000)
    items = {
        code: await create_item(
            rt, STAFF, ItemSpec(code=code, name=code, kind=ItemKind.GOODS, points_price=10), 10_000
        )
        for code in ("mug", "cap")
    }
    # A day of normal traffic: two of each an hour.
    for hour in range(24, 0, -1):
        clock.set(NOON - timedelta(hours=hour, minutes=30))
        for item in items.values():
            await redeem(rt, buyer, item.id, 2)
    # This hour, normal: three mugs, two caps.
    clock.set(NOON - timedelta(minutes=20))
    await redeem(rt, buyer, items["mug"].id, 3)
    await redeem(rt, buyer, items["cap"].id, 2)
    clock.set(NOON)
    assert (await check_anomalies(rt))["fired"] == 0
    # The injected surge: twelve more mugs this hour (15 >= 5 x 2 an hour, and >= 5).
    for _ in range(4):
        await redeem(rt, buyer, items["mug"].id, 3)
    assert (await check_anomalies(rt))["fired"] == 1
    clock.set(NOON + timedelta(minutes=5))
    assert (await check_anomalies(rt))["fired"] == 0  # once for the hour
    [surge] = await alerts(rt)
    assert surge["type"] == "alert.redemption_surge"
    assert (surge["subject"], surge["item_code"], surge["units"]) == ("item:mug", "mug", 15)
    assert surge["baseline_units"] == "2.00"


async def test_a_member_earning_far_above_its_peers_fires_and_its_peers_do_not(
    runtime: Runtime, clock: FrozenClock
) -> None:
    rt = tuned(
        runtime,
        alert_earning_factor=10.0,
        alert_earning_min_points=1_000,
        alert_earning_min_peers=5,
    )
    clock.set(NOON - timedelta(hours=3))
    peers = [await member_with(rt, 100 + n) for n in range(6)]
    farmer = await member_with(rt, 3_000)
    await member_with(rt, 900)  # well above its peers, but under the minimum
    clock.set(NOON)
    assert (await check_anomalies(rt))["fired"] == 1
    [alert] = await alerts(rt)
    assert (alert["type"], alert["member_id"], alert["earned"]) == (
        "alert.member_over_earning",
        farmer,
        3_000,
    )
    assert alert["tier_earners"] == 8 and alert["member_id"] not in peers
    # Earned more than 24 hours ago: no longer alerting (and not again today anyway).
    clock.set(NOON + timedelta(days=2))
    assert (await check_anomalies(rt))["fired"] == 0


async def test_a_campaign_budget_nearly_spent_fires_once(
    runtime: Runtime, clock: FrozenClock
) -> None:
    rt = tuned(runtime, alert_budget_share=0.9)
    clock.set(NOON - timedelta(days=40))
    for _ in range(10):
        await member_with(rt, 0)
    clock.set(NOON)
    await recompute_segments(rt)
    started = await start_campaign(
        rt, STAFF, code="wake", segment="hibernating", points=10, budget=100, reason="wake"
    )
    assert (await check_anomalies(rt))["fired"] == 0, await alerts(rt)
    await run_campaign(rt, started.id)
    assert (await check_anomalies(rt))["fired"] == 1
    assert (await check_anomalies(rt))["fired"] == 0
    [alert] = await alerts(rt)
    assert (alert["type"], alert["subject"], alert["used"], alert["budget"]) == (
        "alert.budget_nearly_spent",
        "segment-campaign:wake",
        100,
        100,
    )


async def test_refused_credentials_past_the_threshold_fire(
    runtime: Runtime, clock: FrozenClock
) -> None:
    rt = tuned(runtime, alert_credential_failures=5, alert_window_minutes=60)
    clock.set(NOON - timedelta(hours=2))
    for _ in range(10):  # long ago: outside the window
        await note_credential_failure(rt.redis, clock.now())
    clock.set(NOON - timedelta(minutes=30))
    for _ in range(4):
        await note_credential_failure(rt.redis, clock.now())
    clock.set(NOON)
    assert (await check_anomalies(rt))["fired"] == 0
    await note_credential_failure(rt.redis, clock.now())
    assert (await check_anomalies(rt))["fired"] == 1
    [alert] = await alerts(rt)
    assert (alert["type"], alert["failures"]) == ("alert.credential_failures", 5)


async def test_staff_list_alerts_by_kind_and_status_and_acknowledge_them(
    runtime: Runtime, clock: FrozenClock
) -> None:
    rt = tuned(runtime, alert_credential_failures=1, alert_budget_share=0.9)
    clock.set(NOON - timedelta(days=40))
    await member_with(rt, 0)
    clock.set(NOON)
    await recompute_segments(rt)
    started = await start_campaign(
        rt, STAFF, code="wake", segment="hibernating", points=10, budget=10, reason="wake"
    )
    await run_campaign(rt, started.id)
    await note_credential_failure(rt.redis, NOON)
    assert (await check_anomalies(rt))["fired"] == 2
    listed = await list_alerts(rt)  # newest first: fired in the detector's order
    assert [a.kind for a in listed] == ["alert.budget_nearly_spent", "alert.credential_failures"]
    assert listed[0].id > listed[1].id
    [only] = await list_alerts(rt, kind="alert.budget_nearly_spent")
    assert (only.subject, only.status, only.details["used"]) == (
        "segment-campaign:wake",
        AlertStatus.OPEN,
        10,
    )
    clock.advance(timedelta(minutes=5))
    done = await acknowledge_alert(rt, STAFF, only.id, "budget raised")
    assert (done.status, done.acknowledged_by, done.acknowledge_note) == (
        AlertStatus.ACKNOWLEDGED,
        "staff:tester",
        "budget raised",
    )
    assert done.acknowledged_at == clock.now()
    again = await acknowledge_alert(rt, Actor("staff:other", "test", kind="staff"), only.id)
    assert again == done  # the first acknowledgement stays
    assert [a.id for a in await list_alerts(rt, status=AlertStatus.ACKNOWLEDGED)] == [only.id]
    [still_open] = await list_alerts(rt, status=AlertStatus.OPEN)
    assert still_open.kind == "alert.credential_failures"
    assert [a.id for a in await list_alerts(rt, before=listed[0].id)] == [listed[1].id]
    assert [a.id for a in await list_alerts(rt, first=1)] == [listed[0].id]
    for call, field in (
        (list_alerts(rt, kind="alert.nope"), "kind"),
        (list_alerts(rt, first=101), "first"),
        (acknowledge_alert(rt, STAFF, 10**9), "id"),
        (acknowledge_alert(rt, STAFF, only.id, "x" * 501), "note"),
    ):
        with pytest.raises(DomainError) as refused:
            await call
        assert refused.value.field == field
        assert refused.value.code in {ErrorCode.INVALID_INPUT, ErrorCode.NOT_FOUND}
