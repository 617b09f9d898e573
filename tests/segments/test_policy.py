"""The segment rules, pure: quintiles and the first matching rule."""

from __future__ import annotations

import itertools

from app.segments.policy import Scores, Segment, classify, quintile


def test_quintiles_by_hand() -> None:
    assert [quintile(k, 10) for k in range(1, 11)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert [quintile(k, 6) for k in range(1, 7)] == [1, 2, 3, 4, 5, 5]
    assert quintile(1, 1) == 5  # a lone member is the best of its population


def test_segments_by_scores() -> None:
    assert classify(Scores(5, 5, 5), is_new=False) is Segment.CHAMPIONS
    assert classify(Scores(4, 4, 3), is_new=False) is Segment.LOYAL
    assert classify(Scores(3, 5, 5), is_new=False) is Segment.LOYAL
    assert classify(Scores(2, 5, 5), is_new=False) is Segment.AT_RISK
    assert classify(Scores(1, 3, 1), is_new=False) is Segment.AT_RISK
    assert classify(Scores(5, 1, 1), is_new=False) is Segment.POTENTIAL
    assert classify(Scores(3, 3, 5), is_new=False) is Segment.POTENTIAL
    assert classify(Scores(2, 2, 5), is_new=False) is Segment.HIBERNATING
    assert classify(None, is_new=False) is Segment.HIBERNATING
    assert classify(Scores(1, 1, 1), is_new=True) is Segment.NEW
    assert classify(None, is_new=True) is Segment.NEW


def test_every_combination_of_scores_has_one_segment() -> None:
    found = {
        classify(Scores(*scores), is_new=False)
        for scores in itertools.product(range(1, 6), repeat=3)
    }
    assert found == set(Segment) - {Segment.NEW}
