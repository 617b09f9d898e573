"""Earning use cases, one unit of work each; the API layers call these with a command object
(app/earning/commands.py).

A write has one shape: check the command (pure, before any connection) → in one unit of work,
lock the member and read what the rules need (app/earning/store.py) → replay a request already
recorded, or decide (pure: app/earning/decisions.py, app/earning/rules.py) → write what was
decided (app/earning/orders.py) → tell the domains above through earning's hooks
(app/earning/hooks.py), in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import retry_on_lost_connection, unit_of_work
from app.earning import decisions, orders
from app.earning.commands import PreviewPoints, RecordEvent, RecordPurchase, RecordRefund
from app.earning.decisions import Standing
from app.earning.hooks import (
    EVENT_RECORDED,
    PURCHASE_RECORDED,
    PURCHASE_RIDES,
    RULE_CHANGING,
    RULE_CHOOSERS,
    EventRecorded,
    PurchaseRecorded,
    RuleChoice,
)
from app.earning.records import (
    EventResult,
    MemberSnapshot,
    PurchaseRecord,
    PurchaseResult,
    RefundResult,
)
from app.earning.rulebook import Rulebook, RuleRecord, RuleVersion
from app.earning.rules import Occurrence, Outcome, Purchase, Rule, Trigger
from app.earning.store import EarningStore
from app.errors import not_found
from app.ledger.models import Actor
from app.runtime import Runtime


def _store(rt: Runtime, conn: AsyncConnection) -> EarningStore:
    return EarningStore(conn, rt.clock, rt.settings)


def _rulebook(rt: Runtime, conn: AsyncConnection) -> Rulebook:
    return _store(rt, conn).rulebook


def _evaluate(
    rt: Runtime, rules: list[Rule], happened: Purchase | Occurrence, standing: Standing, at: Any
) -> Outcome:
    settings = rt.settings
    return decisions.evaluate(
        rules, happened, standing, at, settings.timezone, settings.earning_daily_ceiling
    )


# ------------------------------------------------------------------------------------ rules


async def create_rule(
    rt: Runtime,
    actor: Actor,
    spec: Mapping[str, Any],
    *,
    enabled: bool = True,
    seed_key: str | None = None,
) -> RuleRecord:
    async with unit_of_work(rt.engine) as conn:
        return await _rulebook(rt, conn).create_rule(
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
        await RULE_CHANGING(conn, rule_id)
        return await _rulebook(rt, conn).update_rule(
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
        await RULE_CHANGING(conn, rule_id)
        return await _rulebook(rt, conn).set_enabled(
            rule_id, enabled, actor=actor, expected_version=expected_version
        )


@retry_on_lost_connection
async def list_rules(
    rt: Runtime, *, enabled: bool | None = None, after_id: int | None = None, first: int = 100
) -> list[RuleRecord]:
    async with rt.read() as conn:
        return await _rulebook(rt, conn).list_rules(enabled=enabled, after_id=after_id, first=first)


@retry_on_lost_connection
async def get_rule(rt: Runtime, rule_id: int) -> RuleRecord:
    async with rt.read() as conn:
        return await _rulebook(rt, conn).get_rule(rule_id)


async def rule_versions(rt: Runtime, rule_id: int) -> list[RuleVersion]:
    return (await rule_versions_of(rt, [rule_id]))[rule_id]


@retry_on_lost_connection
async def rule_versions_of(rt: Runtime, rule_ids: list[int]) -> dict[int, list[RuleVersion]]:
    """Many rules' versions at once (DataLoaders)."""
    async with rt.read() as conn:
        return await _rulebook(rt, conn).versions_of(rule_ids)


async def ensure_seeded_rule(
    rt: Runtime, actor: Actor, seed_key: str, spec: Mapping[str, Any]
) -> RuleRecord:
    """Create the rule once under ``seed_key``; later calls return it as it is now (an operator
    may have changed it since: seeding never overwrites their changes)."""
    async with unit_of_work(rt.engine) as conn:
        rulebook = _rulebook(rt, conn)
        found = await rulebook.find_seeded(seed_key)
        if found is not None:
            return found
        return await rulebook.create_rule(spec, actor=actor, seed_key=seed_key)


# ------------------------------------------------------------------------------- the writes


@retry_on_lost_connection
async def record_purchase(rt: Runtime, actor: Actor, command: RecordPurchase) -> PurchaseResult:
    """Idempotent on (channel, order id): a replay returns the first result."""
    checked = decisions.check_purchase(command, rt.clock.now())
    async with unit_of_work(rt.engine) as conn:
        store = _store(rt, conn)
        snapshot, rules = await store.lock_for_rules(
            command.member_id,
            Trigger.PURCHASE,
            None,
            checked.at,
            categories=checked.categories,
            order=(command.channel, command.order_id),
        )
        if snapshot.recorded_purchase_id is not None:
            return await orders.replay_purchase(store, snapshot.recorded_purchase_id, checked)
        standing = await store.standing(
            command.member_id, snapshot, rules, checked.at, purchase=True
        )
        outcome = _evaluate(rt, rules, checked.basket, standing, checked.at)
        ride = None
        if outcome.points:  # the listeners' read rides on the purchase's credit
            ride = PURCHASE_RIDES(rt, _to_record(command.member_id, checked, snapshot, outcome))
        result = await orders.place_purchase(
            store, actor, command, checked, snapshot, rules, outcome, ride
        )
        recorded = PurchaseRecorded(  # tasks, referral, win-back: same transaction (issue 5)
            member_id=command.member_id,
            occurred_at=result.purchase.occurred_at,
            amount=result.purchase.amount,
            points=result.purchase.points,
            categories=frozenset(checked.categories),
            first=result.first,
            account=snapshot.account,
            ride=ride,
        )
        await PURCHASE_RECORDED(rt, conn, actor, recorded)
        return result


def _to_record(
    member_id: int, checked: decisions.CheckedPurchase, snapshot: MemberSnapshot, outcome: Outcome
) -> PurchaseRecorded:
    """The purchase as it will be recorded, before it is (what a listener's ride is built
    from): the same figures the placement writes."""
    return PurchaseRecorded(
        member_id=member_id,
        occurred_at=checked.at,
        amount=checked.basket.total,
        points=outcome.points,
        categories=frozenset(checked.categories),
        first=not snapshot.has_purchases,
        account=snapshot.account,
    )


@retry_on_lost_connection
async def record_refund(rt: Runtime, actor: Actor, command: RecordRefund) -> RefundResult:
    """Idempotent on (channel, refund id); never claws back twice."""
    checked = decisions.check_refund(command)
    async with unit_of_work(rt.engine) as conn:
        store = _store(rt, conn)
        await orders.lock_order(store, command)
        previous = await orders.find_refund(store, command)
        purchase = await orders.purchase_row(store, command.channel, command.order_id)
        if previous is not None:
            return await orders.replay_refund(store, previous, purchase, checked.fingerprint)
        order = await orders.order_of(store, purchase)
        decision = decisions.decide_refund(order, checked)
        clawed = await orders.claw_back(store, actor, command, purchase, decision)
        return await orders.write_refund(
            store, command, checked.fingerprint, purchase, order, decision, clawed
        )


@retry_on_lost_connection
async def record_event(rt: Runtime, actor: Actor, command: RecordEvent) -> EventResult:
    """Idempotent on (channel, event id)."""
    checked = decisions.check_event(command, rt.clock.now())
    async with unit_of_work(rt.engine) as conn:
        store = _store(rt, conn)
        snapshot, rules = await store.lock_for_rules(
            command.member_id, Trigger.EVENT, command.name, checked.at
        )
        existing = await orders.find_event(store, command)
        if existing is not None:
            return await orders.replay_event(store, existing, checked.fingerprint)
        standing = await store.standing(
            command.member_id, snapshot, rules, checked.at, purchase=False
        )
        outcome = _evaluate(rt, rules, checked.occurrence, standing, checked.at)
        result = await orders.write_event(store, actor, command, checked, snapshot, rules, outcome)
        recorded = EventRecorded(  # tasks and win-back: same transaction (issue 5)
            member_id=command.member_id,
            name=command.name,
            occurred_at=command.occurred_at or rt.clock.now(),
            quantity=command.quantity,
            points=result.points,
            account=snapshot.account,
        )
        await EVENT_RECORDED(rt, conn, actor, recorded)
        return result


# ------------------------------------------------------------------------------------ reads


@retry_on_lost_connection
async def preview_points(rt: Runtime, command: PreviewPoints) -> Outcome:
    """What a basket would earn now (no lock, nothing written; caps as of this moment), with the
    command's draft rule as if saved."""
    basket, at = decisions.check_preview(command, rt.clock.now())
    async with rt.read(command.member_id) as conn:
        store = _store(rt, conn)
        categories = sorted({line.category for line in basket.lines})
        snapshot = await store.snapshot(command.member_id, categories=categories)
        if snapshot is None:
            raise not_found("member", command.member_id, "memberId")
        rules = (
            await store.rulebook.active_rules(Trigger.PURCHASE)
            if command.draft is None
            else await store.rulebook.rules_with_draft(Trigger.PURCHASE, command.draft)
        )
        choice = RuleChoice(  # the member's variant's rules, assigning no one
            command.member_id, None, snapshot.segment, rt.clock.now(), assign=False
        )
        rules = await RULE_CHOOSERS(conn, choice, rules)
        standing = await store.preview_standing(command.member_id, snapshot, rules, at)
        return _evaluate(rt, rules, basket, standing, at)


@retry_on_lost_connection
async def get_purchase(rt: Runtime, channel: str, order_id: str) -> PurchaseRecord:
    async with rt.read() as conn:
        return await orders.get_purchase(_store(rt, conn), channel, order_id)
