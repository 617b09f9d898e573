"""When to try a message again, and what an answer means (Standard Webhooks' retry schedule)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

# The delay before each attempt: the first is immediate; a message that failed all of them is
# given up ("failed", recoverable with recoverWebhookMessages).
SCHEDULE: tuple[timedelta, ...] = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
JITTER = 0.1  # each delay moves by up to ±10%, so a receiver's backlog does not return in step
# A receiver's Retry-After is honoured within these bounds (0 would be a busy loop).
MIN_RETRY_AFTER = timedelta(seconds=1)
MAX_RETRY_AFTER = timedelta(hours=10)


class Outcome(StrEnum):
    DELIVERED = "delivered"  # 2xx
    RETRY = "retry"  # anything else, including timeouts and redirects (never followed)
    GONE = "gone"  # 410: the receiver says the endpoint is gone; it is disabled
    FAILED = "failed"  # the last attempt of the schedule failed: the message is given up


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    retry_after: timedelta | None = None  # the receiver's own Retry-After (429 and 503)


def judge(status: int | None, retry_after: str | None) -> Verdict:
    """What an attempt's HTTP status (None: no answer) means for the message."""
    if status is not None and 200 <= status < 300:
        return Verdict(Outcome.DELIVERED)
    if status == 410:
        return Verdict(Outcome.GONE)
    if status in (429, 503):
        return Verdict(Outcome.RETRY, parse_retry_after(retry_after))
    return Verdict(Outcome.RETRY)


def parse_retry_after(value: str | None) -> timedelta | None:
    """Retry-After in seconds (the HTTP-date form is rare from receivers: treated as absent)."""
    if value is None or not value.strip().isdigit():
        return None
    return max(MIN_RETRY_AFTER, min(timedelta(seconds=int(value.strip())), MAX_RETRY_AFTER))


def next_delay(attempts_made: int, jitter: float) -> timedelta | None:
    """The wait before the next attempt after ``attempts_made`` failed ones; None: give up.
    ``jitter`` in [-1, 1] (random in production) scales the ±10%."""
    if attempts_made >= len(SCHEDULE):
        return None
    delay = SCHEDULE[attempts_made]
    return delay * (1 + JITTER * max(-1.0, min(1.0, jitter)))
