"""CSV exports: every member's balance, a period's entries, text that cannot run as a formula."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from app.analytics import exports
from app.analytics.projector import apply_pending
from app.clock import FrozenClock
from app.errors import DomainError
from app.ledger import usecases as ledger
from app.ledger.commands import Earn, Spend
from app.ledger.models import Actor
from app.members import usecases as members
from app.runtime import Runtime

STAFF = Actor("staff:tester", "test", frozenset({"admin"}), kind="staff")
# 23:30 on 31 January 2027 in Shanghai (15:30 UTC): a business day's last half hour.
LATE = datetime(2027, 1, 31, 15, 30, tzinfo=UTC)


async def read(stream: AsyncIterator[str]) -> list[dict[str, str]]:
    text = "".join([chunk async for chunk in stream])
    return list(csv.DictReader(io.StringIO(text)))


async def test_balances_and_a_business_days_transactions(
    runtime: Runtime, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exports, "ROWS_PER_CHUNK", 2)  # several chunks from a few rows
    clock.set(LATE)
    ids = []
    for n in range(5):
        done = await members.register_member(runtime, channel="pos", external_ref=uuid4().hex)
        ids.append(done.member.id)
        await ledger.earn_points(
            runtime,
            STAFF,
            Earn(member_id=done.member.id, amount=10 * (n + 1), reason="=HYPERLINK(1)"),
            idempotency_key=uuid4().hex,
        )
    clock.advance(timedelta(hours=1))  # 1 February in Shanghai
    await ledger.spend_points(
        runtime,
        STAFF,
        Spend(member_id=ids[4], amount=7, reason="buy", reference="mall-order:9"),
        idempotency_key=uuid4().hex,
    )
    await apply_pending(runtime)
    balances = await read(exports.member_balances(runtime))
    assert [(int(r["member_id"]), int(r["total"]), r["channel"]) for r in balances] == [
        (ids[0], 10, "pos"),
        (ids[1], 20, "pos"),
        (ids[2], 30, "pos"),
        (ids[3], 40, "pos"),
        (ids[4], 43, "pos"),
    ]
    january = await read(exports.transactions(runtime, date(2027, 1, 31), date(2027, 1, 31)))
    assert [(r["kind"], r["flow"], r["amount"]) for r in january] == [
        ("earn", "issued:other", str(10 * (n + 1))) for n in range(5)
    ]
    assert {r["reason"] for r in january} == {"'=HYPERLINK(1)"}  # never a formula
    february = await read(exports.transactions(runtime, date(2027, 2, 1), date(2027, 2, 28)))
    assert [(r["flow"], r["amount"], r["business_day"]) for r in february] == [
        ("redeemed:mall", "-7", "2027-02-01")
    ]


def test_a_period_that_ends_before_it_starts_is_refused(runtime: Runtime) -> None:
    with pytest.raises(DomainError):
        exports.transactions(runtime, date(2027, 2, 1), date(2027, 1, 1))
