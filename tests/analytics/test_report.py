"""The weekly report: last business week against the week before, HTML with charts, CSV, the
Monday job keeping it."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest
from sqlalchemy import select

from app.analytics import usecases as analytics
from app.analytics.jobs import make_weekly_report
from app.analytics.projector import apply_pending
from app.analytics.report import previous_week
from app.analytics.tables import weekly_reports
from app.clock import FrozenClock
from app.errors import DomainError
from app.ledger import usecases as ledger
from app.ledger.commands import Earn
from app.ledger.models import Actor
from app.members import usecases as members
from app.runtime import Runtime

STAFF = Actor("staff:tester", "test", frozenset({"admin"}), kind="staff")
# Wednesday 6 January 2027, 10:00 in Shanghai; then Monday 11 January, 08:00 there.
WEEK_BEFORE = datetime(2027, 1, 6, 2, 0, tzinfo=UTC)
MONDAY = datetime(2027, 1, 11, 0, 0, tzinfo=UTC)


def test_the_previous_week_starts_on_the_monday_before_this_weeks() -> None:
    assert previous_week(date(2027, 1, 11)) == date(2027, 1, 4)
    assert previous_week(date(2027, 1, 17)) == date(2027, 1, 4)
    assert previous_week(date(2027, 1, 3)) == date(2026, 12, 21)


async def earn(rt: Runtime, member_id: int, amount: int) -> None:
    await ledger.earn_points(
        rt, STAFF, Earn(member_id=member_id, amount=amount, reason="t"), idempotency_key=uuid4().hex
    )


async def test_the_monday_job_keeps_last_weeks_report_against_the_week_before(
    runtime: Runtime, clock: FrozenClock
) -> None:
    clock.set(WEEK_BEFORE - timedelta(days=7))  # the week of 28 December
    done = await members.register_member(runtime, channel="app", external_ref=uuid4().hex)
    await earn(runtime, done.member.id, 100)
    clock.set(WEEK_BEFORE)  # the week of 4 January
    await earn(runtime, done.member.id, 150)
    await apply_pending(runtime)
    clock.set(MONDAY)
    summary = await make_weekly_report(runtime)
    assert summary["week_start"] == "2027-01-04"
    async with runtime.engine.connect() as conn:
        stored = (await conn.execute(select(weekly_reports))).one()
    rows = {r["figure"]: r for r in csv.DictReader(io.StringIO(stored.csv))}
    assert (rows["points issued"]["this_week"], rows["points issued"]["last_week"]) == (
        "150",
        "100",
    )
    assert rows["points issued"]["change"] == "0.5000"
    assert (rows["points outstanding"]["this_week"], rows["active members"]["this_week"]) == (
        "250",
        "1",
    )
    assert stored.html.count('src="data:image/png;base64,iVBOR') == 2  # two PNG charts
    assert "积分运营周报" in stored.html
    again = await make_weekly_report(runtime)  # made again: replaces, never duplicates
    assert again == summary


async def test_a_week_not_starting_on_monday_is_refused(runtime: Runtime) -> None:
    with pytest.raises(DomainError):
        await analytics.weekly_report(runtime, date(2027, 1, 5))
