"""Pure tests of the allocation arithmetic: no database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.ledger.allocation import Take, take_in_order, total


def test_takes_in_the_order_given() -> None:
    takes = take_in_order([(3, 5), (1, 10), (2, 7)], 12)
    assert takes == [Take(3, 5), Take(1, 7)]


def test_exact_fit_stops_before_the_next_source() -> None:
    assert take_in_order([(1, 5), (2, 5)], 5) == [Take(1, 5)]


def test_runs_dry_takes_everything() -> None:
    takes = take_in_order([(1, 5), (2, 3)], 100)
    assert takes == [Take(1, 5), Take(2, 3)]
    assert total(takes) == 8


def test_empty_sources_and_zero_amount() -> None:
    assert take_in_order([], 10) == []
    assert take_in_order([(1, 5)], 0) == []


def test_skips_empty_sources() -> None:
    assert take_in_order([(1, 0), (2, 4), (3, 0), (4, 4)], 6) == [Take(2, 4), Take(4, 2)]


def test_accepts_a_generator() -> None:
    sources = ((i, 2) for i in range(10))
    assert take_in_order(sources, 5) == [Take(0, 2), Take(1, 2), Take(2, 1)]


def test_negative_amount_is_refused() -> None:
    with pytest.raises(ValueError):
        take_in_order([(1, 5)], -1)


def test_total() -> None:
    assert total([]) == 0
    assert total([Take(1, 2), Take(2, 40)]) == 42


sources_strategy = st.lists(st.integers(min_value=0, max_value=1_000), max_size=20).map(
    lambda amounts: [(source_id, amount) for source_id, amount in enumerate(amounts, start=100)]
)


@given(sources=sources_strategy, amount=st.integers(min_value=0, max_value=25_000))
def test_take_in_order_properties(sources: list[tuple[int, int]], amount: int) -> None:
    takes = take_in_order(sources, amount)
    available = dict(sources)
    order = [source_id for source_id, _ in sources]

    # The takes add up to what was asked, or to everything there was.
    assert total(takes) == min(amount, sum(available.values()))
    # Every take is positive and never more than its source holds; no source is taken twice.
    assert all(0 < take.amount <= available[take.source_id] for take in takes)
    taken_ids = [take.source_id for take in takes]
    assert len(set(taken_ids)) == len(taken_ids)
    # The order is respected: takes follow the sources' order ...
    positions = [order.index(source_id) for source_id in taken_ids]
    assert positions == sorted(positions)
    # ... and every non-empty source before the last one taken was emptied entirely.
    if takes:
        last = positions[-1]
        for source_id, amount_there in sources[:last]:
            took = next((t.amount for t in takes if t.source_id == source_id), 0)
            assert took == amount_there
