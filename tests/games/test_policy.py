"""The auction's pure rules: the least next bid, the refusals in order, anti-sniping, outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.errors import DomainError, ErrorCode
from app.games.policy import (
    AuctionOutcome,
    AuctionSpec,
    AuctionStatus,
    Standing,
    check_bid,
    extended_end,
    minimum_bid,
    outcome_of,
    refuse_early,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
END = NOW + timedelta(minutes=1)


def standing(leader: int | None = None, amount: int | None = None, **changes: object) -> Standing:
    values: dict[str, object] = {
        "status": AuctionStatus.OPEN,
        "starts_at": NOW - timedelta(hours=1),
        "ends_at": END,
        "starting_price": 100,
        "min_increment": 10,
        "leading_amount": amount,
        "leading_member_id": leader,
    }
    values.update(changes)
    return Standing(**values)  # type: ignore[arg-type]


def refusal(s: Standing, member: int, amount: int, at: datetime = NOW) -> ErrorCode:
    with pytest.raises(DomainError) as refused:
        check_bid(s, member, amount, at)
    return refused.value.code


def test_the_least_bid_is_the_starting_price_then_the_leader_plus_the_increment() -> None:
    assert minimum_bid(standing()) == 100
    assert minimum_bid(standing(7, 150)) == 160
    check_bid(standing(), 1, 100, NOW)
    check_bid(standing(7, 150), 1, 160, NOW)
    assert refusal(standing(), 1, 99) is ErrorCode.BID_TOO_LOW
    assert refusal(standing(7, 150), 1, 159) is ErrorCode.BID_TOO_LOW


def test_refusals_name_what_is_wrong() -> None:
    assert refusal(standing(), 1, 500, END) is ErrorCode.ENDED
    assert refusal(standing(status=AuctionStatus.CLOSED), 1, 500) is ErrorCode.ENDED
    early = standing(starts_at=NOW + timedelta(seconds=1))
    assert refusal(early, 1, 500) is ErrorCode.NOT_STARTED
    assert refusal(standing(7, 150), 7, 500) is ErrorCode.ALREADY_LEADING
    assert refusal(standing(), 1, 10**10) is ErrorCode.INVALID_INPUT


def test_what_is_refused_before_the_lock_stays_refused_under_it() -> None:
    with pytest.raises(DomainError) as low:
        refuse_early(standing(7, 150), 155, NOW)
    assert low.value.code is ErrorCode.BID_TOO_LOW
    with pytest.raises(DomainError) as late:
        refuse_early(standing(), 500, END)
    assert late.value.code is ErrorCode.ENDED
    refuse_early(standing(7, 150), 160, NOW)  # the lock decides the rest (its own leader…)


def test_a_bid_in_the_last_seconds_moves_the_end() -> None:
    assert extended_end(END, END - timedelta(seconds=45), 30) == END
    assert extended_end(END, END - timedelta(seconds=5), 30) == END + timedelta(seconds=25)
    assert extended_end(END, END - timedelta(seconds=5), 0) == END


def test_outcomes() -> None:
    assert outcome_of(None, None) is AuctionOutcome.NO_BIDS
    assert outcome_of(150, 200) is AuctionOutcome.RESERVE_NOT_MET
    assert outcome_of(200, 200) is AuctionOutcome.WON
    assert outcome_of(120, None) is AuctionOutcome.WON


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ends_at": NOW - timedelta(hours=2)}, "endsAt"),
        ({"ends_at": NOW - timedelta(seconds=1), "starts_at": NOW - timedelta(hours=2)}, "endsAt"),
        ({"starting_price": 0}, "startingPrice"),
        ({"min_increment": 0}, "minIncrement"),
        ({"reserve_price": 50}, "reservePrice"),
        ({"extend_seconds": 3601}, "extendSeconds"),
        ({"code": ""}, "code"),
    ],
)
def test_a_bad_spec_is_refused(change: dict[str, object], field: str) -> None:
    values: dict[str, object] = {
        "code": "a",
        "name": "A",
        "item_id": 1,
        "starts_at": NOW - timedelta(hours=1),
        "ends_at": END,
        "starting_price": 100,
        "min_increment": 10,
    }
    values.update(change)
    with pytest.raises(DomainError) as refused:
        AuctionSpec(**values).check(NOW)  # type: ignore[arg-type]
    assert refused.value.field == field
