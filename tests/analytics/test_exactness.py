"""The rollups against a from-scratch SQL over the ledger, after random operations with the
clock moved across day, month and year boundaries in Asia/Shanghai."""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

from sqlalchemy import text

from app.analytics import usecases as analytics
from app.analytics.kpis import Kpis
from app.analytics.policy import Granularity
from app.analytics.projector import apply_pending
from app.analytics.rebuild import rebuild
from app.clock import FrozenClock, business_date
from app.earning import usecases as earning
from app.earning.commands import PurchaseLineInput, RecordPurchase, RecordRefund
from app.engagement import usecases as engagement
from app.errors import DomainError
from app.ledger import usecases as ledger
from app.ledger.commands import Adjust, CommitHold, Earn, PlaceHold, Reverse, Spend, VoidHold
from app.ledger.models import Actor
from app.lifecycle import gifting
from app.members import usecases as members
from app.runtime import Runtime
from app.tiers.policy import DEMO_TIERS
from app.tiers.usecases import install_tiers
from tests.analytics.conftest import TZ, Truth, oracle, sales_oracle

STAFF = Actor("staff:tester", "test", frozenset({"admin"}), kind="staff")
POS = Actor("partner:shop", "pos")
BASE_RULE = {
    "name": "base 1 point per CNY",
    "trigger": "purchase",
    "effect": {"kind": "per_unit", "rate": "1"},
}
# 23:00 on 30 December in Shanghai: the run crosses days, a month and a year there.
START = datetime(2026, 12, 30, 15, 0, tzinfo=UTC)


def key() -> str:
    return uuid4().hex


class Driver:
    """Random ledger traffic: earns (some expiring soon), purchases and refunds, spends, holds
    committed or voided, reversals, adjustments, gifts, sign-ins, registrations."""

    def __init__(self, rt: Runtime, clock: FrozenClock, rng: random.Random) -> None:
        self.rt, self.clock, self.rng = rt, clock, rng
        self.members: list[int] = []
        self.credits: list[int] = []
        self.debits: list[int] = []
        self.holds: list[int] = []
        self.orders: list[tuple[int, str]] = []

    @classmethod
    async def started(cls, rt: Runtime, clock: FrozenClock, rng: random.Random) -> Driver:
        """A programme with tiers, a purchase rule and sign-in schedules, four members, the
        clock at START."""
        await install_tiers(rt, DEMO_TIERS)
        await earning.create_rule(rt, STAFF, BASE_RULE)
        await engagement.seed_schedules(rt, STAFF)
        clock.set(START)
        driver = cls(rt, clock, rng)
        for _ in range(4):
            await driver.register()
        return driver

    async def register(self) -> None:
        channel = self.rng.choice(["wechat", "pos", "app"])
        done = await members.register_member(self.rt, channel=channel, external_ref=key())
        self.members.append(done.member.id)

    def member(self) -> int:
        return self.rng.choice(self.members)

    async def step(self) -> None:
        action = self.rng.choice(
            [
                "register",
                "earn",
                "earn",
                "purchase",
                "refund",
                "spend",
                "hold",
                "settle",
                "reverse",
                "adjust",
                "gift",
                "signin",
                "expire",
            ]
        )
        # A refusal (not enough points, already reversed…) writes nothing.
        with contextlib.suppress(DomainError):
            await getattr(self, action)()

    async def earn(self) -> None:
        expires = self.clock.now() + timedelta(hours=self.rng.choice([3, 20, 50, 24 * 40]))
        entry = await ledger.earn_points(
            self.rt,
            STAFF,
            Earn(
                member_id=self.member(),
                amount=self.rng.randint(1, 300),
                reason="test",
                expires_at=expires,
            ),
            idempotency_key=key(),
        )
        self.credits.append(entry.id)

    async def purchase(self) -> None:
        order = key()
        member = self.member()
        amount = Decimal(self.rng.randint(10, 500))
        result = await earning.record_purchase(
            self.rt,
            POS,
            RecordPurchase(
                member_id=member,
                channel="pos",
                order_id=order,
                lines=[PurchaseLineInput(sku="sku", category="grocery", quantity=1, amount=amount)],
            ),
        )
        if result.entry is not None:
            self.orders.append((member, order))

    async def refund(self) -> None:
        if self.orders:
            _, order = self.rng.choice(self.orders)
            await earning.record_refund(
                self.rt,
                POS,
                RecordRefund(
                    channel="pos",
                    order_id=order,
                    refund_id=key(),
                    amount=Decimal(self.rng.randint(1, 10)),
                ),
            )

    async def spend(self) -> None:
        entry = await ledger.spend_points(
            self.rt,
            STAFF,
            Spend(
                member_id=self.member(),
                amount=self.rng.randint(1, 200),
                reason="buy",
                reference=self.rng.choice(["mall-order:1", "charity:x", "lottery-draw:2", None]),
            ),
            idempotency_key=key(),
        )
        self.debits.append(entry.id)

    async def hold(self) -> None:
        hold = await ledger.hold_points(
            self.rt,
            STAFF,
            PlaceHold(
                member_id=self.member(),
                amount=self.rng.randint(1, 100),
                reason="order",
                reference="checkout:pos:1",
            ),
            idempotency_key=key(),
        )
        self.holds.append(hold.id)

    async def settle(self) -> None:
        if self.holds:
            hold = self.holds.pop(self.rng.randrange(len(self.holds)))
            if self.rng.random() < 0.6:
                entry = await ledger.commit_hold(
                    self.rt, STAFF, CommitHold(hold_id=hold), idempotency_key=key()
                )
                self.debits.append(entry.id)
            else:
                await ledger.void_hold(
                    self.rt,
                    STAFF,
                    VoidHold(hold_id=hold, reason="cancelled"),
                    idempotency_key=key(),
                )

    async def reverse(self) -> None:
        pool = self.credits if self.rng.random() < 0.5 else self.debits
        if pool:
            await ledger.reverse_entry(
                self.rt,
                STAFF,
                Reverse(
                    entry_id=self.rng.choice(pool),
                    amount=self.rng.choice([None, 1, 5]),
                    reason="refund",
                ),
                idempotency_key=key(),
            )

    async def adjust(self) -> None:
        await ledger.adjust_points(
            self.rt,
            STAFF,
            Adjust(
                member_id=self.member(), amount=self.rng.choice([-20, -5, 10, 50]), reason="fix"
            ),
            idempotency_key=key(),
        )

    async def gift(self) -> None:
        sender, recipient = self.rng.sample(self.members, 2)
        await gifting.gift_points(
            self.rt,
            STAFF,
            from_member_id=sender,
            to_member_id=recipient,
            amount=self.rng.randint(1, 30),
            idempotency_key=key(),
        )

    async def signin(self) -> None:
        await engagement.check_in(self.rt, STAFF, self.member())

    async def expire(self) -> None:
        await ledger.settle_due_accounts(self.rt)


async def compare(rt: Runtime, start: date, end: date, grain: Granularity) -> None:
    found: Kpis = await analytics.programme_kpis(rt, start, end, granularity=grain)
    for bucket in found.buckets:
        truth = await oracle(rt, bucket.start, bucket.end)
        flows = bucket.flows
        seen = Truth(
            issued=flows.issued,
            redeemed=flows.redeemed,
            expired=flows.expired,
            clawed_back=flows.clawed_back,
            returned=flows.returned,
            outstanding=bucket.outstanding,
            members=bucket.members,
            active=bucket.active_members,
        )
        assert seen == truth, (grain, bucket.start, bucket.end)
    whole = await oracle(rt, found.start, found.end)
    assert (found.totals.issued, found.totals.redeemed, found.outstanding) == (
        whole.issued,
        whole.redeemed,
        whole.outstanding,
    )
    # Member sales: the period's, overall and for a channel, and each day's.
    assert found.member_sales == await sales_oracle(rt, found.start, found.end)
    pos = await analytics.programme_kpis(rt, start, end, granularity=grain, channel="pos")
    assert pos.member_sales == await sales_oracle(rt, found.start, found.end, "pos")
    if grain is Granularity.DAY:
        for bucket in found.buckets:
            day = await analytics.programme_kpis(rt, bucket.start, bucket.end, granularity=grain)
            assert day.member_sales == await sales_oracle(rt, bucket.start, bucket.end), bucket


async def test_kpis_equal_the_ledger_across_days_months_and_a_year(
    runtime: Runtime, clock: FrozenClock
) -> None:
    rng = random.Random(16)
    driver = await Driver.started(runtime, clock, rng)
    first = business_date(clock.now(), TZ)
    for round_ in range(12):
        for _ in range(25):
            await driver.step()
        clock.advance(timedelta(hours=rng.choice([1, 5, 11, 26, 24 * 9])))
        if round_ % 3 == 0:
            await apply_pending(runtime)  # caught up now and then, mid-traffic
    await ledger.settle_due_accounts(runtime)
    await apply_pending(runtime)
    last = business_date(clock.now(), TZ)
    assert (first.year, last.year) == (2026, 2027)
    for grain in Granularity:
        await compare(runtime, first, last, grain)
    # Rebuilt from scratch, the rollups are the same.
    before = await analytics.programme_kpis(runtime, first, last, granularity=Granularity.DAY)
    await rebuild(runtime)
    after = await analytics.programme_kpis(runtime, first, last, granularity=Granularity.DAY)
    assert after == before
    totals = after.totals
    # The run had every kind of movement (else the comparison above proves little).
    assert min(totals.expired, totals.clawed_back, totals.returned, totals.signins) > 0
    assert (
        min(
            totals.issued_by_source[s]
            for s in ("purchase", "gift", "other", "adjustment", "sign_in")
        )
        > 0
    )
    assert min(totals.redeemed_by_use[u] for u in ("mall", "checkout", "donation", "lottery")) > 0
    # Purchases on several days, some refunded.
    assert after.member_sales > 0
    async with runtime.engine.connect() as conn:
        days, refunded = (
            await conn.execute(
                text(
                    "SELECT count(DISTINCT (created_at AT TIME ZONE 'Asia/Shanghai')::date),"
                    " count(*) FILTER (WHERE refunded_amount > 0) FROM purchases"
                )
            )
        ).one()
    assert days > 3 and refunded > 0
