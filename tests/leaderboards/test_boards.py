"""Pure tests: periods in the business timezone, key names, the tie-break encoding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import DomainError, ErrorCode
from app.leaderboards.boards import (
    ID_CEILING,
    POINTS_EARNED,
    Period,
    PeriodKind,
    ScoredEntry,
    board_key,
    changes_for,
    cursor_key,
    decode_element,
    encode_element,
    get_board,
    index_key,
    leaderboard_topic,
    parse_kind,
    parse_period,
    period_of,
    periods_of,
    ranking_key,
)

TZ = "Asia/Shanghai"
SH = ZoneInfo(TZ)


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SH)


def ids(at: datetime) -> dict[str, str]:
    return {kind.value: period_of(kind, at, TZ).id for kind in PeriodKind}


# ------------------------------------------------------------------------------- periods


def test_periods_of_an_instant() -> None:
    assert ids(sh(2026, 11, 23, 10, 0)) == {
        "daily": "2026-11-23",
        "weekly": "2026-W48",
        "monthly": "2026-11",
        "all-time": "all",
    }


@given(
    at=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    tz=st.sampled_from([TZ, "America/New_York", "Pacific/Kiritimati", "UTC"]),
)
def test_periods_of_is_period_of_each_kind(at: datetime, tz: str) -> None:
    """``periods_of`` reuses the periods of a local day: the same as working each out."""
    assert periods_of(at, tz) == [period_of(kind, at, tz) for kind in PeriodKind]
    # the local day, not the UTC one: a minute later may be another local day (or the same)
    later = at + timedelta(minutes=1)
    assert periods_of(later, tz) == [period_of(kind, later, tz) for kind in PeriodKind]


def test_23_59_and_00_01_shanghai_are_different_days() -> None:
    before, after = sh(2026, 11, 23, 23, 59), sh(2026, 11, 24, 0, 1)
    assert ids(before)["daily"] == "2026-11-23"
    assert ids(after)["daily"] == "2026-11-24"
    # In UTC both are the same day (15:59 and 16:01 on the 23rd): the business day decides.
    assert before.astimezone(UTC).date() == after.astimezone(UTC).date()


def test_month_and_week_boundaries_in_shanghai() -> None:
    last = sh(2026, 11, 30, 23, 59)  # a Monday
    first = sh(2026, 12, 1, 0, 1)
    assert ids(last)["monthly"] == "2026-11"
    assert ids(first)["monthly"] == "2026-12"
    assert ids(last)["weekly"] == ids(first)["weekly"] == "2026-W49"
    sunday, monday = sh(2026, 11, 29, 23, 59), sh(2026, 11, 30, 0, 1)
    assert ids(sunday)["weekly"] == "2026-W48"
    assert ids(monday)["weekly"] == "2026-W49"


def test_iso_week_year_differs_from_calendar_year() -> None:
    assert ids(sh(2027, 1, 1, 12, 0))["weekly"] == "2026-W53"
    assert ids(sh(2025, 12, 29, 12, 0))["weekly"] == "2026-W01"


def test_period_bounds_are_business_midnights() -> None:
    month = period_of(PeriodKind.MONTHLY, sh(2026, 11, 23, 10), TZ)
    assert month.start == sh(2026, 11, 1)
    assert month.end == sh(2026, 12, 1)
    assert month.start is not None and month.start.astimezone(UTC) == datetime(
        2026, 10, 31, 16, tzinfo=UTC
    )
    week = period_of(PeriodKind.WEEKLY, sh(2026, 11, 23, 10), TZ)
    assert (week.start, week.end) == (sh(2026, 11, 23), sh(2026, 11, 30))
    assert period_of(PeriodKind.ALL_TIME, sh(2026, 11, 23), TZ) == Period(
        PeriodKind.ALL_TIME, "all", None, None
    )


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_an_instant_lies_in_its_periods_and_parses_back(naive: datetime) -> None:
    at = naive.replace(tzinfo=UTC)
    for kind in PeriodKind:
        period = period_of(kind, at, TZ)
        assert period.contains(at)
        assert parse_period(kind, period.id, TZ) == period
        if period.end is not None:
            assert not period.contains(period.end)
            assert period_of(kind, period.end, TZ) != period
            assert period.start is not None
            assert period_of(kind, period.start - timedelta(microseconds=1), TZ) != period


@pytest.mark.parametrize(
    ("kind", "ident"),
    [
        ("daily", "2026-13-01"),
        ("daily", "2026-11"),
        ("weekly", "2026-W54"),
        ("weekly", "2026-W1"),
        ("monthly", "2026-00"),
        ("monthly", "26-11"),
        ("all-time", "2026"),
    ],
)
def test_bad_period_ids_are_invalid_input(kind: str, ident: str) -> None:
    with pytest.raises(DomainError) as raised:
        parse_period(PeriodKind(kind), ident, TZ)
    assert raised.value.code is ErrorCode.INVALID_INPUT


def test_unknown_board_is_not_found_and_unknown_period_invalid() -> None:
    with pytest.raises(DomainError) as raised:
        get_board("nope")
    assert raised.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(DomainError) as raised:
        parse_kind("yearly")
    assert raised.value.code is ErrorCode.INVALID_INPUT


def test_key_names() -> None:
    month = period_of(PeriodKind.MONTHLY, sh(2026, 11, 23), TZ)
    assert board_key("points-earned", month) == "lb:{points-earned}:monthly:2026-11"
    assert index_key("points-earned", month) == "lb:{points-earned}:monthly:2026-11:members"
    assert cursor_key("points-earned") == "lb:{points-earned}:applied"
    assert leaderboard_topic("points-earned", month) == "leaderboard:points-earned:monthly:2026-11"


# ----------------------------------------------------------------------------- tie-break

instants = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(5000, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC)
)
member_ids = st.integers(min_value=0, max_value=ID_CEILING)


@given(member_ids, instants)
def test_element_round_trips(member_id: int, at: datetime) -> None:
    assert decode_element(encode_element(member_id, at)) == (member_id, at)
    assert decode_element(encode_element(member_id, at).encode()) == (member_id, at)


@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=2**53), instants, member_ids),
        min_size=2,
        max_size=30,
        unique_by=lambda t: t[2],
    )
)
def test_redis_order_equals_the_ranking_rule(rows: list[tuple[int, datetime, int]]) -> None:
    """Redis ranks by score descending, then element bytes descending: that must equal
    (more points, then earlier reached, then smaller member id)."""

    def redis_order(row: tuple[int, datetime, int]) -> tuple[float, bytes]:
        points, at, member = row
        return (float(points), encode_element(member, at).encode())

    by_redis = sorted(rows, key=redis_order, reverse=True)
    by_rule = sorted(rows, key=lambda r: ranking_key(r[0], r[1], r[2]))
    assert by_redis == by_rule


@given(st.integers(min_value=0, max_value=2**53 - 1))
def test_point_totals_are_exact_as_redis_scores(points: int) -> None:
    assert int(float(points)) == points


@given(instants, instants, st.integers(min_value=1, max_value=10**12))
def test_the_later_instant_has_the_smaller_element(a: datetime, b: datetime, member: int) -> None:
    # The apply script keeps min(old, new) element: the later "reached at".
    later = max(a, b)
    assert min(encode_element(member, a), encode_element(member, b)) == encode_element(
        member, later
    )


# -------------------------------------------------------------------------------- counting


def entry(kind: str, amount: int, at: datetime, **kw: object) -> ScoredEntry:
    return ScoredEntry(event_id=1, member_id=7, kind=kind, amount=amount, created_at=at, **kw)  # type: ignore[arg-type]


def test_what_counts_on_points_earned() -> None:
    at = sh(2026, 11, 23, 10)
    board = POINTS_EARNED
    assert board.contribution("earn", 100, None) == 100
    assert board.contribution("reversal", -40, "earn") == -40
    assert board.contribution("reversal", 40, "spend") == 0
    assert board.contribution("reversal", -40, "adjustment") == 0
    assert board.contribution("adjustment", 500, None) == 0
    assert board.contribution("spend", -30, None) == 0
    assert board.contribution("expiry", -30, None) == 0
    changes = changes_for(board, entry("earn", 100, at), TZ, at)
    assert [c.period.field for c in changes] == [
        "daily:2026-11-23",
        "weekly:2026-W48",
        "monthly:2026-11",
        "all-time:all",
    ]
    assert changes_for(board, entry("adjustment", 100, at), TZ, at) == []


def test_a_reversal_counts_in_the_periods_of_what_it_reverses() -> None:
    earned, refunded = sh(2026, 11, 30, 23, 59), sh(2026, 12, 1, 0, 1)
    changes = changes_for(
        POINTS_EARNED,
        entry("reversal", -50, refunded, reversed_kind="earn", reversed_created_at=earned),
        TZ,
        refunded,
    )
    assert [c.period.field for c in changes] == [
        "daily:2026-11-30",
        "weekly:2026-W49",
        "monthly:2026-11",
        "all-time:all",
    ]
    assert {c.delta for c in changes} == {-50}
    # ...and the member reached the new total when the reversal was written
    assert {decode_element(c.element)[1] for c in changes} == {refunded}


def test_retired_periods_get_no_changes() -> None:
    at = sh(2026, 1, 10, 12)
    later = sh(2026, 2, 1)
    fields = [c.period.field for c in changes_for(POINTS_EARNED, entry("earn", 5, at), TZ, later)]
    assert fields == ["weekly:2026-W02", "monthly:2026-01", "all-time:all"]
