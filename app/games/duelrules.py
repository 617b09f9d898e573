"""Pure rules of PK duels (积分PK赛, docs/GAMES.md): what staff may set, what a challenge may
ask, who won. No I/O: the clock's value and the rows come in as arguments."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from app.errors import DomainError, ErrorCode, invalid
from app.games.policy import MAX_POINTS, check_named

MAX_HOURS = 24 * 31  # a window, an acceptance timeout: a month at most


class DuelMetric(StrEnum):
    POINTS = "points"  # points earned from the programme in the window (not from other duels)
    PURCHASES = "purchases"  # purchases made in the window, a fully refunded one not counted
    SIGN_IN_STREAK = "sign_in_streak"  # the longest run of consecutive sign-in days in it


class TieRule(StrEnum):
    SPLIT = "split"  # stakes back, and the programme's reward split in two (rounded down)
    REFUND = "refund"  # stakes back, no reward


class DuelStatus(StrEnum):
    PENDING = "pending"  # challenged: the challenger's stake held, waiting for the opponent
    OPEN = "open"  # accepted: both stakes held, the window runs
    CLOSED = "closed"


class DuelOutcome(StrEnum):
    WON = "won"  # the loser's stake went to the winner (and the reward, if any)
    TIED = "tied"  # equal scores: stakes back, the reward split or not (the tie rule)
    DECLINED = "declined"  # the opponent said no: the challenger's stake back
    EXPIRED = "expired"  # not accepted in time: the challenger's stake back
    VOID = "void"  # a member was frozen or closed by the end: stakes back, nobody paid


@dataclass(frozen=True)
class DuelRules:
    """What staff allow: the metrics, the largest stake, the programme's reward to the winner,
    the tie rule, how long a challenge waits and the longest window."""

    code: str
    name: str
    metrics: tuple[DuelMetric, ...]
    max_stake: int
    reward_points: int
    tie_rule: TieRule
    accept_hours: int
    max_hours: int
    enabled: bool = True

    def check(self) -> None:
        check_named(self.code, self.name)
        if not self.metrics:
            raise invalid("allow at least one metric", "metrics")
        limits = {
            "maxStake": (self.max_stake, 0, MAX_POINTS),
            "rewardPoints": (self.reward_points, 0, MAX_POINTS),
            "acceptHours": (self.accept_hours, 1, MAX_HOURS),
            "maxHours": (self.max_hours, 1, MAX_HOURS),
        }
        for field, (value, low, high) in limits.items():
            if not low <= value <= high:
                raise invalid(f"{field} must be {low}..{high:,}", field)


@dataclass(frozen=True)
class Challenge:
    """What a member asks: an opponent, a metric, a stake each side holds, a window."""

    challenger_id: int
    opponent_id: int
    metric: DuelMetric
    stake: int
    hours: int

    def check(self, rules: DuelRules) -> None:
        if not rules.enabled:
            raise DomainError(
                ErrorCode.INVALID_STATE, f"duel rules {rules.code} are switched off", "rules"
            )
        if self.opponent_id == self.challenger_id:
            raise invalid("a member cannot challenge itself", "opponentId")
        if self.metric not in rules.metrics:
            allowed = ", ".join(m.value for m in rules.metrics)
            raise invalid(f"these rules allow the metrics {allowed}", "metric")
        if not 0 <= self.stake <= rules.max_stake:
            raise invalid(f"a stake is 0..{rules.max_stake} points under these rules", "stake")
        if not 1 <= self.hours <= rules.max_hours:
            raise invalid(f"a window is 1..{rules.max_hours} hours under these rules", "hours")


def check_answer(status: DuelStatus, accept_by_passed: bool, accept_by: str) -> None:
    """An accept or a decline: only of a pending challenge, and only before it expires (by
    the clock, whether or not the job expired it yet)."""
    if status is not DuelStatus.PENDING:
        raise DomainError(ErrorCode.INVALID_STATE, f"the duel is {status.value}", "duelId")
    if accept_by_passed:
        raise DomainError(ErrorCode.ENDED, f"the challenge expired at {accept_by}", "duelId")


@dataclass(frozen=True)
class Verdict:
    outcome: DuelOutcome
    winner: int | None
    loser: int | None


def decide(challenger: tuple[int, int], opponent: tuple[int, int]) -> Verdict:
    """The higher score wins; equal scores tie. Each side is (member id, score)."""
    if challenger[1] == opponent[1]:
        return Verdict(DuelOutcome.TIED, None, None)
    winner, loser = (
        (challenger, opponent) if challenger[1] > opponent[1] else (opponent, challenger)
    )
    return Verdict(DuelOutcome.WON, winner[0], loser[0])


def tie_share(reward_points: int, tie_rule: TieRule) -> int:
    """What each side of a tie gets of the programme's reward."""
    return reward_points // 2 if tie_rule is TieRule.SPLIT else 0


def longest_run(days: Iterable[date]) -> int:
    """The longest run of consecutive days (a day counted once)."""
    best = run = 0
    previous: date | None = None
    for day in sorted(set(days)):
        run = run + 1 if previous is not None and day - previous == timedelta(days=1) else 1
        best, previous = max(best, run), day
    return best
