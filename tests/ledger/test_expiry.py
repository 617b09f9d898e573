"""Expiry policies: pure arithmetic on business-local days (no services)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.config import Settings
from app.errors import DomainError, ErrorCode
from app.ledger.expiry import (
    NEVER,
    ExpiryKind,
    ExpiryPolicy,
    kindest,
    parse_policy,
    parse_policy_value,
    programme_policy,
)

TZ = "Asia/Shanghai"


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_rolling_runs_to_the_end_of_the_same_local_date_n_months_later() -> None:
    policy = parse_policy("rolling:12")
    assert policy.expires_at(at(2026, 1, 15, 3, 0), TZ) == at(2027, 1, 15, 16, 0)
    # 23:30 UTC on Jan 15 is already Jan 16 in Shanghai: the business day decides.
    assert policy.expires_at(at(2026, 1, 15, 23, 30), TZ) == at(2027, 1, 16, 16, 0)
    # Clamped to the month's end.
    assert parse_policy("rolling:1").last_valid_day(date(2026, 3, 31)) == date(2026, 4, 30)
    assert parse_policy("rolling:12").last_valid_day(date(2028, 2, 29)) == date(2029, 2, 28)


def test_year_end_clears_last_years_points_or_this_years_with_zero() -> None:
    assert parse_policy("year_end").expires_at(at(2026, 12, 30, 4, 0), TZ) == at(2027, 12, 31, 16)
    assert parse_policy("year_end:0").expires_at(at(2026, 12, 30, 4), TZ) == at(2026, 12, 31, 16)
    # Dec 31, 17:00 UTC is Jan 1 in Shanghai: earned in the next year.
    assert parse_policy("year_end:0").expires_at(at(2026, 12, 31, 17), TZ) == at(2027, 12, 31, 16)


def test_fixed_and_never() -> None:
    fixed = parse_policy("fixed:2027-06-30")
    assert fixed.expires_at(at(2026, 1, 1), TZ) == at(2027, 6, 30, 16)
    assert parse_policy("never").expires_at(at(2026, 1, 1), TZ) is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "weekly",
        "rolling",
        "rolling:0",
        "rolling:x",
        "rolling:121",
        "year_end:11",
        "fixed:2027-13-01",
        "fixed:",
        "never:3",
    ],
)
def test_bad_policies_are_refused_with_invalid_input(text: str) -> None:
    with pytest.raises(DomainError) as caught:
        parse_policy(text)
    assert caught.value.code is ErrorCode.INVALID_INPUT


def test_policy_text_round_trips() -> None:
    for text in ["rolling:12", "year_end:1", "year_end:0", "fixed:2027-06-30", "never"]:
        assert parse_policy(text).text == text
    assert parse_policy_value(None) is None
    with pytest.raises(DomainError):
        parse_policy_value(12)


def test_the_programme_policy_comes_from_settings() -> None:
    base = Settings(_env_file=None)  # type: ignore[call-arg]
    assert programme_policy(base) == ExpiryPolicy(ExpiryKind.ROLLING, months=12)
    assert programme_policy(base.model_copy(update={"default_expiry_months": None})) == NEVER
    year_end = base.model_copy(update={"expiry_policy": "year_end"})
    assert programme_policy(year_end).kind is ExpiryKind.YEAR_END


def test_the_kindest_policy_wins_and_never_beats_any_date() -> None:
    earned = at(2026, 5, 1)
    twelve, six = parse_policy("rolling:12"), parse_policy("rolling:6")
    assert kindest([six, twelve], earned, TZ) == twelve
    assert kindest([twelve, NEVER, six], earned, TZ) == NEVER
    assert kindest([], earned, TZ) is None
