"""Pure decisions of segmentation: the segments, the rules that name a member's segment from
its RFM scores, and those rules as SQL (the job classifies a million members in one
statement; tests check the two against each other). No I/O, no clock.

Scores are quintiles, 1 (worst) to 5 (best), among the members active in the window: a
member's score is ``ceil(5 * k / n)`` where ``k`` counts the members whose value is at most its
own (ties share a score) and ``n`` the members scored (docs/ANALYTICS.md, "Segments").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.errors import invalid

QUINTILES = 5


class Segment(StrEnum):
    NEW = "new"  # registered within the last JIFEN_SEGMENT_NEW_DAYS days
    CHAMPIONS = "champions"  # recent, frequent, high value
    LOYAL = "loyal"  # frequent and not lapsed
    POTENTIAL = "potential"  # recent, not (yet) frequent
    AT_RISK = "at_risk"  # used to come often, not lately
    HIBERNATING = "hibernating"  # seldom and not lately, or not at all in the window


@dataclass(frozen=True)
class Scores:
    recency: int
    frequency: int
    monetary: int


@dataclass(frozen=True)
class SegmentRule:
    """A member whose scores are all within these inclusive bounds is in ``segment``."""

    segment: Segment
    recency: tuple[int, int]
    frequency: tuple[int, int]
    monetary: tuple[int, int] = (1, QUINTILES)

    def matches(self, scores: Scores) -> bool:
        return all(
            low <= value <= high
            for value, (low, high) in (
                (scores.recency, self.recency),
                (scores.frequency, self.frequency),
                (scores.monetary, self.monetary),
            )
        )


# The first rule that matches names the segment; a scored member no rule matches (recency and
# frequency 1-2), and a member with no activity in the window, is hibernating.
RULES = (
    SegmentRule(Segment.CHAMPIONS, recency=(4, 5), frequency=(4, 5), monetary=(4, 5)),
    SegmentRule(Segment.LOYAL, recency=(3, 5), frequency=(4, 5)),
    SegmentRule(Segment.AT_RISK, recency=(1, 2), frequency=(3, 5)),
    SegmentRule(Segment.POTENTIAL, recency=(3, 5), frequency=(1, 5)),
)
OTHERWISE = Segment.HIBERNATING


def quintile(at_most: int, scored: int) -> int:
    """The score of a value that ``at_most`` of the ``scored`` values do not exceed."""
    return -(-QUINTILES * at_most // scored)


def classify(scores: Scores | None, *, is_new: bool) -> Segment:
    if is_new:
        return Segment.NEW
    if scores is not None:
        for rule in RULES:
            if rule.matches(scores):
                return rule.segment
    return OTHERWISE


def classify_sql(*, is_new: str, recency: str, frequency: str, monetary: str) -> str:
    """:func:`classify` as a SQL ``CASE`` over the given SQL expressions (scores NULL when the
    member was not active in the window)."""

    def within(expression: str, bounds: tuple[int, int]) -> str:
        return f"{expression} BETWEEN {bounds[0]} AND {bounds[1]}"

    whens = " ".join(
        f"WHEN {within(recency, r.recency)} AND {within(frequency, r.frequency)} "
        f"AND {within(monetary, r.monetary)} THEN '{r.segment.value}'"
        for r in RULES
    )
    return f"CASE WHEN {is_new} THEN '{Segment.NEW.value}' {whens} ELSE '{OTHERWISE.value}' END"


def check_segments(names: tuple[str, ...] | None, field: str) -> tuple[str, ...] | None:
    """A condition's segments (earning rules, tasks), each a known segment; INVALID_INPUT
    naming the field otherwise."""
    if names is None:
        return None
    known = {segment.value for segment in Segment}
    unknown = sorted(set(names) - known)
    if unknown or not names:
        raise invalid(
            f"segments are some of {', '.join(sorted(known))}"
            + (f"; unknown: {', '.join(n[:32] for n in unknown[:5])}" if unknown else ""),
            field,
        )
    return names
