"""Domain errors with stable codes; the GraphQL layer turns them into typed payload errors."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    MEMBER_NOT_ACTIVE = "MEMBER_NOT_ACTIVE"
    HOLD_NOT_ACTIVE = "HOLD_NOT_ACTIVE"
    NOT_REVERSIBLE = "NOT_REVERSIBLE"
    ALREADY_REVERSED = "ALREADY_REVERSED"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    LIMIT_REACHED = "LIMIT_REACHED"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    RATE_LIMITED = "RATE_LIMITED"
    SLOW_CONSUMER = "SLOW_CONSUMER"  # a subscriber fell too far behind; it resumes by event id
    JOB_RUNNING = "JOB_RUNNING"  # another process is running this job right now
    NOT_ON_SALE = "NOT_ON_SALE"  # mall: inactive item, or outside its sale window
    TIER_TOO_LOW = "TIER_TOO_LOW"  # mall: a tier-only item asked for from a lower tier
    ALREADY_PAID = "ALREADY_PAID"  # mall: the cash part of an order was already paid
    PAYMENT_REQUIRED = "PAYMENT_REQUIRED"  # mall: points + cash waits for the channel's payment
    INVALID_STATE = "INVALID_STATE"  # mall: the order (or payment) is not in a state for this
    UNAVAILABLE = "UNAVAILABLE"  # a database fault: send the same request again (same key)
    NOT_STARTED = "NOT_STARTED"  # games: the auction (campaign, duel) has not begun yet
    ENDED = "ENDED"  # games: past its end (or closed): no more bids, pledges or moves
    BID_TOO_LOW = "BID_TOO_LOW"  # auctions: below the starting price or leader + increment
    ALREADY_LEADING = "ALREADY_LEADING"  # auctions: a bid on one's own leading bid
    QUOTE_CHANGED = "QUOTE_CHANGED"  # a redemption's quoted price is no longer the price


class DomainError(Exception):
    """A refused request: nothing was written (the unit of work rolls back)."""

    def __init__(self, code: ErrorCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def invalid(message: str, field: str | None = None) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message, field)


MAX_ECHO = 64  # an error message repeats at most this much of what the client sent


def echo(value: object) -> str:
    """``value`` as a message may quote it: bounded, so an error never echoes a huge input."""
    text = str(value)
    return text if len(text) <= MAX_ECHO else f"{text[:MAX_ECHO]}… ({len(text)} characters)"


def not_found(what: str, ident: object, field: str | None = None) -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, f"{what} {echo(ident)} does not exist", field)
