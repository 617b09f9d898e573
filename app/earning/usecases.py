"""Earning use cases: one unit of work each; the API layers call these."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.db import retry_on_lost_connection, unit_of_work
from app.earning.hooks import EVENT_RECORDED, PURCHASE_RECORDED, EventRecorded, PurchaseRecorded
from app.earning.rules import Outcome
from app.earning.service import (
    EarningService,
    EventResult,
    PurchaseLineInput,
    PurchaseRecord,
    PurchaseResult,
    RefundLineInput,
    RefundResult,
    RuleRecord,
    RuleVersion,
)
from app.ledger.models import Actor
from app.runtime import Runtime


def _service(rt: Runtime, conn: Any) -> EarningService:
    return EarningService(conn, rt.clock, rt.settings)


async def create_rule(
    rt: Runtime,
    actor: Actor,
    spec: Mapping[str, Any],
    *,
    enabled: bool = True,
    seed_key: str | None = None,
) -> RuleRecord:
    async with unit_of_work(rt.engine) as conn:
        return await _service(rt, conn).create_rule(
            spec, actor=actor, enabled=enabled, seed_key=seed_key
        )


async def update_rule(
    rt: Runtime,
    actor: Actor,
    rule_id: int,
    spec: Mapping[str, Any],
    *,
    expected_version: int | None = None,
) -> RuleRecord:
    async with unit_of_work(rt.engine) as conn:
        return await _service(rt, conn).update_rule(
            rule_id, spec, actor=actor, expected_version=expected_version
        )


async def set_rule_enabled(
    rt: Runtime,
    actor: Actor,
    rule_id: int,
    enabled: bool,
    *,
    expected_version: int | None = None,
) -> RuleRecord:
    async with unit_of_work(rt.engine) as conn:
        return await _service(rt, conn).set_enabled(
            rule_id, enabled, actor=actor, expected_version=expected_version
        )


@retry_on_lost_connection
async def list_rules(
    rt: Runtime, *, enabled: bool | None = None, after_id: int | None = None, first: int = 100
) -> list[RuleRecord]:
    async with rt.engine.connect() as conn:
        return await _service(rt, conn).list_rules(enabled=enabled, after_id=after_id, first=first)


@retry_on_lost_connection
async def get_rule(rt: Runtime, rule_id: int) -> RuleRecord:
    async with rt.engine.connect() as conn:
        return await _service(rt, conn).get_rule(rule_id)


@retry_on_lost_connection
async def rule_versions(rt: Runtime, rule_id: int) -> list[RuleVersion]:
    async with rt.engine.connect() as conn:
        return await _service(rt, conn).rule_versions(rule_id)


@retry_on_lost_connection
async def record_purchase(
    rt: Runtime,
    actor: Actor,
    *,
    member_id: int,
    channel: str,
    order_id: str,
    lines: Sequence[PurchaseLineInput],
    occurred_at: datetime | None = None,
) -> PurchaseResult:
    """Idempotent on (channel, order id): a replay returns the first result."""
    async with unit_of_work(rt.engine) as conn:
        result = await _service(rt, conn).record_purchase(
            member_id=member_id,
            channel=channel,
            order_id=order_id,
            lines=lines,
            actor=actor,
            occurred_at=occurred_at,
        )
        if not result.replayed:  # tasks, referral, win-back: same transaction (issue 5)
            recorded = PurchaseRecorded(
                member_id=member_id,
                occurred_at=result.purchase.occurred_at,
                amount=result.purchase.amount,
                points=result.purchase.points,
                categories=frozenset(line.category for line in lines),
                first=result.first,
            )
            await PURCHASE_RECORDED(rt, conn, actor, recorded)
        return result


@retry_on_lost_connection
async def record_refund(
    rt: Runtime,
    actor: Actor,
    *,
    channel: str,
    order_id: str,
    refund_id: str,
    lines: Sequence[RefundLineInput] | None = None,
    amount: Decimal | None = None,
) -> RefundResult:
    """Idempotent on (channel, refund id); never claws back twice."""
    async with unit_of_work(rt.engine) as conn:
        return await _service(rt, conn).record_refund(
            channel=channel,
            order_id=order_id,
            refund_id=refund_id,
            actor=actor,
            lines=lines,
            amount=amount,
        )


@retry_on_lost_connection
async def record_event(
    rt: Runtime,
    actor: Actor,
    *,
    member_id: int,
    channel: str,
    event_id: str,
    name: str,
    quantity: Decimal = Decimal(1),
    occurred_at: datetime | None = None,
) -> EventResult:
    """Idempotent on (channel, event id)."""
    async with unit_of_work(rt.engine) as conn:
        result = await _service(rt, conn).record_event(
            member_id=member_id,
            channel=channel,
            event_id=event_id,
            name=name,
            actor=actor,
            quantity=quantity,
            occurred_at=occurred_at,
        )
        if not result.replayed:  # tasks and win-back: same transaction (issue 5)
            event = EventRecorded(
                member_id=member_id,
                name=name,
                occurred_at=occurred_at or rt.clock.now(),
                quantity=quantity,
                points=result.points,
            )
            await EVENT_RECORDED(rt, conn, actor, event)
        return result


@retry_on_lost_connection
async def preview_points(
    rt: Runtime,
    *,
    member_id: int,
    channel: str,
    lines: Sequence[PurchaseLineInput],
    at: datetime | None = None,
) -> Outcome:
    async with rt.engine.connect() as conn:
        return await _service(rt, conn).preview(
            member_id=member_id, channel=channel, lines=lines, at=at
        )


@retry_on_lost_connection
async def get_purchase(rt: Runtime, channel: str, order_id: str) -> PurchaseRecord:
    async with rt.engine.connect() as conn:
        return await _service(rt, conn).get_purchase(channel, order_id)


async def ensure_seeded_rule(
    rt: Runtime, actor: Actor, seed_key: str, spec: Mapping[str, Any]
) -> RuleRecord:
    """Create the rule once under ``seed_key``; later calls return it as it is now (an operator
    may have changed it since: seeding never overwrites their changes)."""
    async with unit_of_work(rt.engine) as conn:
        service = _service(rt, conn)
        found = await service.find_seeded(seed_key)
        if found is not None:
            return found
        return await service.create_rule(spec, actor=actor, seed_key=seed_key)
