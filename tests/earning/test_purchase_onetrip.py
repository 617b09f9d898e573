"""A purchase's row, lines and sales event ride on its credit's statement (issue 21, a
``Rider``, app/ledger/credits.py), and so does its tier activity (the last activity noted, the
measures read with the purchase counted) and engagement's task-progress read (a
``PurchaseRide``, app/earning/hooks.py): one statement for the four on every purchase that
earns. It writes exactly what the credit, the placement and the tier's statement wrote one
after another, row by row and event by event (a tier upgrade included), and an order id taken
meanwhile by another member still refuses the purchase with nothing written."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.clock import FrozenClock
from app.earning import orders
from app.earning import usecases as earning
from app.earning.commands import PurchaseLineInput, RecordPurchase
from app.earning.hooks import PURCHASE_RIDES
from app.earning.tables import purchase_lines, purchases
from app.engagement import usecases as engagement
from app.engagement.tables import task_progress, tasks
from app.errors import DomainError
from app.events.tables import events
from app.ledger import credits, movements
from app.ledger import usecases as ledger
from app.ledger.audit import audit_ledger
from app.ledger.models import Actor
from app.ledger.tables import entries
from app.runtime import Runtime
from app.tiers.service import TierService
from app.tiers.tables import member_tiers, tier_changes
from tests.earning.test_purchase_lock import (
    BASKET,
    MORNING,
    POS,
    STAFF,
    _buy,
    _member,
    _plain,
    _written,
    referred_pair,
)
from tests.statements import counting
from tests.test_statements import programme

# 1,000 CNY then 4,500: silver (5,000) is reached only with the second purchase counted.
BIG = [PurchaseLineInput("sku-9", "grocery", 3, Decimal("4500"))]


async def _credit_then_place(*args: Any) -> Any:
    """The path before: the credit's statement alone, then the placement's with its entry id."""
    conn, *rest, rider = args
    entry = await credits.write_credit(conn, *rest)
    if rider is not None:
        params = {**rider.params, "o_entry_id": entry.id}
        rider.row = (await conn.execute(orders._PLACE_PURCHASE, params)).first()
    return entry


async def _never(_: TierService) -> bool:
    """The tier activity in a statement of its own, after the placement (the path before)."""
    return False


async def _tiers(runtime: Runtime, *member_ids: int) -> list[Any]:
    async with runtime.engine.connect() as conn:
        query = select(member_tiers).where(member_tiers.c.member_id.in_(member_ids))
        return list(await conn.execute(query))


async def _placed(runtime: Runtime, member: int, order: str) -> list[Any]:
    """The purchase's row, its lines and every event the purchase appended, in id order."""
    async with runtime.engine.connect() as conn:
        placed = (
            await conn.execute(
                select(purchases).where(purchases.c.member_id == member).order_by(purchases.c.id)
            )
        ).all()
        drop = ("id", "member_id", "entry_id", "created_at", "fingerprint")
        rows = [("purchases", _plain(row, member, order, *drop)) for row in placed]
        found = await conn.execute(
            select(purchase_lines)
            .where(purchase_lines.c.purchase_id.in_([row.id for row in placed]))
            .order_by(purchase_lines.c.purchase_id, purchase_lines.c.line_no)
        )
        rows += [("lines", _plain(r, member, order, "purchase_id", "member_id")) for r in found]
        ids = {str(row.id) for row in placed}
        tier = await conn.execute(select(member_tiers).where(member_tiers.c.member_id == member))
        rows += [("member_tiers", _plain(r, member, order, "member_id")) for r in tier]
        changes = await conn.execute(
            select(tier_changes).where(tier_changes.c.member_id == member).order_by("id")
        )
        rows += [("tier_changes", _plain(r, member, order, "id", "member_id")) for r in changes]
        found = await conn.execute(
            select(events.c.topic, events.c.type, events.c.payload["purchase_id"].astext)
            .where(events.c.topic.in_([f"member:{member}", orders.SALES_TOPIC]))
            .where(events.c.type != "member.registered")
            .order_by(events.c.id)
        )
        for topic, type_, purchase_id in found:
            if topic == orders.SALES_TOPIC and purchase_id not in ids:
                continue  # another member's sale
            rows.append((topic.replace(f"member:{member}", "member:M"), type_))
        return rows


async def test_the_placement_riding_on_the_credit_writes_what_two_statements_wrote(
    runtime: Runtime, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = await referred_pair(runtime, clock)
    with monkeypatch.context() as before:
        before.setattr(movements, "write_credit", _credit_then_place)
        before.setattr(TierService, "rides_activity", _never)
        before.setattr(PURCHASE_RIDES, "_ride", None)  # the progress read on its own too
        with counting(runtime) as one_by_one:
            await _buy(runtime, a, "ord-a-1")
            await _buy(runtime, a, "ord-a-2", BIG)
    with counting(runtime) as riding:
        await _buy(runtime, b, "ord-b-1")
        await _buy(runtime, b, "ord-b-2", BIG)

    assert await _written(runtime, b, "ord-b-") == await _written(runtime, a, "ord-a-")
    assert await _placed(runtime, b, "ord-b-") == await _placed(runtime, a, "ord-a-")
    async with runtime.engine.connect() as conn:  # each purchase names its own earn's entry
        for member in (a, b):
            found = await conn.execute(
                select(purchases.c.order_id, purchases.c.entry_id).where(
                    purchases.c.member_id == member
                )
            )
            for order_id, entry_id in found:
                reference = await ledger.get_entry(runtime, entry_id)
                assert reference.reference == f"pos:{order_id}"

    def placements(statements: list[str]) -> list[bool]:
        """For each statement that places a purchase, whether it also credits its points."""
        return ["INSERT INTO entries" in s for s in statements if "INSERT INTO purchases" in s]

    assert (placements(one_by_one), placements(riding)) == ([False] * 2, [True] * 2)
    assert [tier.tier_code for tier in await _tiers(runtime, a, b)] == ["silver", "silver"]
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report.render()


async def test_an_order_id_taken_meanwhile_by_another_member_refuses_and_writes_nothing(
    runtime: Runtime, clock: FrozenClock
) -> None:
    clock.set(MORNING)
    await programme(runtime)
    a, b = [await _member(runtime, ref) for ref in ("a", "b")]
    results = await asyncio.gather(
        *(
            earning.record_purchase(
                runtime,
                POS,
                RecordPurchase(member_id=m, channel="pos", order_id="shared", lines=BASKET),
            )
            for m in (a, b)
        ),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(refused) == 1 and refused[0].field == "orderId"
    (placed,) = [r for r in results if not isinstance(r, BaseException)]
    loser = b if placed.purchase.member_id == a else a
    assert placed.entry is not None and placed.purchase.entry_id == placed.entry.id
    assert (await ledger.get_balance(runtime, loser)).total == 0
    assert (await ledger.get_balance(runtime, placed.purchase.member_id)).total > 0
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report.render()


async def test_a_members_first_tier_row_rides_on_its_first_purchase(
    runtime: Runtime, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member without a tier row gets its base row in the purchase's statement (an upsert
    riding on the credit), the same row the statement of its own wrote after it."""
    a, b = await referred_pair(runtime, clock)
    with monkeypatch.context() as before:
        before.setattr(TierService, "rides_activity", _never)
        await _buy(runtime, a, "ord-a-1")
    with counting(runtime) as riding:
        await _buy(runtime, b, "ord-b-1")

    assert await _placed(runtime, b, "ord-b-") == await _placed(runtime, a, "ord-a-")
    assert [tier.tier_code for tier in await _tiers(runtime, a, b)] == ["normal", "normal"]
    assert not [s for s in riding if s.startswith("INSERT INTO member_tiers")]
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report.render()


def _progress_reads(statements: list[str]) -> tuple[int, int]:
    """The task-progress reads sent on their own: noting the activity (the feed's), and
    reading keys the first read missed (the tasks changed since this process cached them)."""
    noting = sum(s.startswith("WITH before AS") and "task_progress" in s for s in statements)
    missed = sum(s.startswith("SELECT g.generation") for s in statements)
    return noting, missed


async def test_the_progress_read_riding_on_the_credit_reads_what_its_own_read_did(
    runtime: Runtime, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Member a's purchases read their task progress in a statement of their own after the
    credit, member b's in the credit's statement: the same progress, rewards (the explorer,
    the win-back after the dormancy, the referral on the first purchase), events. The third
    purchase comes after a task was switched off and on again, so the tasks this process
    cached miss it: b's riding read guessed its keys from them, and the progress it had (two
    days of three in a row) is read after, as the read of its own does."""
    a, b = await referred_pair(runtime, clock)

    async def buy(member: int, order: str, *, riding: bool) -> list[str]:
        with monkeypatch.context() as patched:
            if not riding:
                patched.setattr(PURCHASE_RIDES, "_ride", None)
            with counting(runtime) as statements:
                await _buy(runtime, member, order)
        return statements

    own: list[str] = []
    ridden: list[str] = []
    for day in (1, 2):
        own += await buy(a, f"ord-a-{day}", riding=False)
        ridden += await buy(b, f"ord-b-{day}", riding=True)
        clock.advance(timedelta(days=1))
    # buy-3-days switched off (a purchase caches the tasks without it), then on again.
    await engagement.update_task(runtime, STAFF, "buy-3-days", None, enabled=False)
    await _buy(runtime, await _member(runtime, "c"), "ord-c-1")
    await engagement.update_task(runtime, STAFF, "buy-3-days", None, enabled=True)
    ridden += await buy(b, "ord-b-3", riding=True)
    own += await buy(a, "ord-a-3", riding=False)

    assert await _written(runtime, b, "ord-b-") == await _written(runtime, a, "ord-a-")
    assert await _placed(runtime, b, "ord-b-") == await _placed(runtime, a, "ord-a-")
    async with runtime.engine.connect() as conn:  # the third day completed buy-3-days for both
        found = await conn.execute(
            select(task_progress.c.member_id, task_progress.c.completions)
            .join(tasks, tasks.c.id == task_progress.c.task_id)
            .where(tasks.c.code == "buy-3-days", task_progress.c.member_id.in_([a, b]))
        )
        assert sorted(completions for _, completions in found) == [1, 1]
    # a: a read of its own on each purchase; b: none, but the keys its guess missed.
    assert (_progress_reads(own), _progress_reads(ridden)) == ((3, 0), (0, 1))
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report.render()


async def test_a_team_challenge_completed_finds_the_team_in_the_riding_read(
    runtime: Runtime, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The team-spend challenge completed pays a team member its 20% bonus, named by its team:
    with the progress read on its own, the team is read when the bonus is paid; riding on the
    credit, it comes with the progress (and a member in no team gets no bonus)."""
    clock.set(MORNING)
    await programme(runtime)
    a, b, solo = [await _member(runtime, ref) for ref in ("a", "b", "solo")]
    teams = {}
    for member in (a, b):
        captain = Actor(f"member:{member}", "api")
        teams[member] = (
            await engagement.create_team(runtime, captain, "team-spend", member, f"T{member}")
        ).id
    with monkeypatch.context() as before:
        before.setattr(PURCHASE_RIDES, "_ride", None)
        with counting(runtime) as own:
            await _buy(runtime, a, "ord-a")  # 1,300 CNY: team-spend (1,000) completed
    with counting(runtime) as riding:
        await _buy(runtime, b, "ord-b")
        await _buy(runtime, solo, "ord-solo")

    async with runtime.engine.connect() as conn:
        found = await conn.execute(
            select(entries.c.member_id, entries.c.amount, entries.c.details["team_id"].as_integer())
            .where(entries.c.details["engagement"].astext == "team")
            .order_by(entries.c.member_id)
        )
        assert [tuple(row) for row in found] == [(a, 40, teams[a]), (b, 40, teams[b])]

    def team_reads(statements: list[str]) -> int:
        return sum(s.startswith("SELECT team_members.team_id") for s in statements)

    assert (team_reads(own), team_reads(riding)) == (1, 0)
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report.render()
