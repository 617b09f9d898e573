"""Pure rules of the points games (docs/GAMES.md): who may bid how much, when an auction's end
moves, how it closes; what a pledge may be and how a campaign ends. No I/O: the clock's value
and the rows come in as arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from app.errors import DomainError, ErrorCode, invalid

MAX_POINTS = 1_000_000_000  # a bid, a price: a guard against typos, not a business limit
MAX_EXTEND_SECONDS = 3600


def check_named(code: str, name: str) -> None:
    """A game's (or its rules') code and name: what staff and the seed find it by."""
    if not code.strip() or len(code) > 64:
        raise invalid("code must be 1..64 characters", "code")
    if not name.strip() or len(name) > 200:
        raise invalid("name must be 1..200 characters", "name")


class AuctionStatus(StrEnum):
    OPEN = "open"  # taking bids between its start and its (possibly extended) end
    CLOSED = "closed"


class AuctionOutcome(StrEnum):
    WON = "won"  # the winner's hold committed into a redemption order
    NO_BIDS = "no_bids"  # closed empty
    RESERVE_NOT_MET = "reserve_not_met"  # the leading bid's hold voided
    OUT_OF_STOCK = "out_of_stock"  # the item ran out before the close: the hold voided
    WINNER_INACTIVE = "winner_inactive"  # the winner was frozen or closed: the hold voided


class BidStatus(StrEnum):
    LEADING = "leading"  # its hold is active
    OUTBID = "outbid"  # its hold voided when a higher bid came
    WON = "won"  # its hold committed into the order
    LOST = "lost"  # the auction closed without a sale: its hold voided


@dataclass(frozen=True)
class AuctionSpec:
    code: str
    name: str
    item_id: int
    starts_at: datetime
    ends_at: datetime
    starting_price: int
    min_increment: int
    reserve_price: int | None = None
    extend_seconds: int = 0  # anti-sniping: a bid this close to the end pushes the end this far

    def check(self, now: datetime) -> None:
        check_named(self.code, self.name)
        if self.ends_at <= self.starts_at:
            raise invalid("an auction must end after it starts", "endsAt")
        if self.ends_at <= now:
            raise invalid("an auction must end in the future", "endsAt")
        if not 1 <= self.starting_price <= MAX_POINTS:
            raise invalid(f"startingPrice must be 1..{MAX_POINTS:,}", "startingPrice")
        if not 1 <= self.min_increment <= MAX_POINTS:
            raise invalid(f"minIncrement must be 1..{MAX_POINTS:,}", "minIncrement")
        if self.reserve_price is not None and not (
            self.starting_price <= self.reserve_price <= MAX_POINTS
        ):
            raise invalid("reservePrice must be at least the starting price", "reservePrice")
        if not 0 <= self.extend_seconds <= MAX_EXTEND_SECONDS:
            raise invalid(f"extendSeconds must be 0..{MAX_EXTEND_SECONDS}", "extendSeconds")


@dataclass(frozen=True)
class Standing:
    """What a bid is judged against: the auction as it is under its row lock."""

    status: AuctionStatus
    starts_at: datetime
    ends_at: datetime
    starting_price: int
    min_increment: int
    leading_amount: int | None
    leading_member_id: int | None


def minimum_bid(standing: Standing) -> int:
    """The least a new bid may offer: the starting price, then the leader plus the increment."""
    if standing.leading_amount is None:
        return standing.starting_price
    return standing.leading_amount + standing.min_increment


def check_window(
    is_open: bool, starts_at: datetime, ends_at: datetime, now: datetime, field: str
) -> None:
    """A game takes part from its start until its end (by the clock), while it is open."""
    if not is_open or now >= ends_at:
        raise DomainError(ErrorCode.ENDED, f"it ended at {ends_at.isoformat()}", field)
    if now < starts_at:
        raise DomainError(ErrorCode.NOT_STARTED, f"it opens at {starts_at.isoformat()}", field)


def refuse_early(standing: Standing, amount: int, now: datetime) -> None:
    """What may be refused from a plain read, before the auction's row lock: once an auction
    has ended it stays ended, and the least next bid only ever grows, so a bid too low or too
    late now is too low or too late under the lock too (most bids of a rush are: they cost a
    read, not a place in the lock's queue)."""
    if standing.status is not AuctionStatus.OPEN or now >= standing.ends_at:
        check_window(False, standing.starts_at, standing.ends_at, now, "auctionId")
    least = minimum_bid(standing)
    if amount < least:
        raise DomainError(ErrorCode.BID_TOO_LOW, f"a bid must be at least {least}", "amount")


def check_bid(standing: Standing, member_id: int, amount: int, now: datetime) -> None:
    check_window(
        standing.status is AuctionStatus.OPEN,
        standing.starts_at,
        standing.ends_at,
        now,
        "auctionId",
    )
    if standing.leading_member_id == member_id:
        raise DomainError(
            ErrorCode.ALREADY_LEADING,
            f"your bid of {standing.leading_amount} is already the leading bid",
            "amount",
        )
    least = minimum_bid(standing)
    if amount < least:
        raise DomainError(ErrorCode.BID_TOO_LOW, f"a bid must be at least {least}", "amount")
    if amount > MAX_POINTS:
        raise invalid(f"a bid is at most {MAX_POINTS:,}", "amount")


def extended_end(ends_at: datetime, now: datetime, extend_seconds: int) -> datetime:
    """Anti-sniping: a bid within ``extend_seconds`` of the end moves the end to that far after
    the bid, so every bidder has that long to answer it."""
    if extend_seconds <= 0:
        return ends_at
    return max(ends_at, now + timedelta(seconds=extend_seconds))


def outcome_of(leading_amount: int | None, reserve_price: int | None) -> AuctionOutcome:
    if leading_amount is None:
        return AuctionOutcome.NO_BIDS
    if reserve_price is not None and leading_amount < reserve_price:
        return AuctionOutcome.RESERVE_NOT_MET
    return AuctionOutcome.WON


# ------------------------------------------------------------------------------ crowdfunding


class CampaignStatus(StrEnum):
    OPEN = "open"  # taking pledges until its deadline
    CLOSED = "closed"


class CampaignOutcome(StrEnum):
    REACHED = "reached"  # every pledge committed (spent) at the deadline
    MISSED = "missed"  # every pledge voided: the points back into their lots


class PledgeStatus(StrEnum):
    ACTIVE = "active"  # its hold is active
    RAISED = "raised"  # replaced by a bigger pledge of the same member: its hold voided
    WITHDRAWN = "withdrawn"  # taken back before the deadline: its hold voided
    COMMITTED = "committed"  # the goal was reached: its hold committed
    RELEASED = "released"  # the goal was missed: its hold voided


@dataclass(frozen=True)
class CampaignSpec:
    code: str
    name: str
    purpose: str  # what the points are for: an item, a charity, a shared reward
    goal: int
    starts_at: datetime
    ends_at: datetime
    min_pledge: int = 1
    allow_raise: bool = True
    allow_withdraw: bool = True

    def check(self, now: datetime) -> None:
        check_named(self.code, self.name)
        if len(self.purpose) > 2000:
            raise invalid("purpose is longer than 2000 characters", "purpose")
        if self.ends_at <= self.starts_at or self.ends_at <= now:
            raise invalid("a campaign must end in the future, after it starts", "endsAt")
        if not 1 <= self.goal <= MAX_POINTS:
            raise invalid(f"goal must be 1..{MAX_POINTS:,}", "goal")
        if not 1 <= self.min_pledge <= self.goal:
            raise invalid("minPledge must be 1..goal", "minPledge")


@dataclass(frozen=True)
class Drive:
    """What a pledge is judged against: the campaign as it is under its row lock."""

    open: bool
    starts_at: datetime
    ends_at: datetime
    min_pledge: int
    allow_raise: bool
    allow_withdraw: bool


def check_pledge(drive: Drive, current: int | None, total: int, now: datetime) -> None:
    """``total``: the member's whole pledge after this call (a first pledge, or a raise of
    ``current``)."""
    check_window(drive.open, drive.starts_at, drive.ends_at, now, "campaignId")
    if current is not None:
        if not drive.allow_raise:
            raise DomainError(
                ErrorCode.INVALID_STATE, "this campaign does not allow raising a pledge", "amount"
            )
        if total <= current:
            raise invalid(
                f"a raise must be more than your pledge of {current} (withdraw to take it back)",
                "amount",
            )
    if total < drive.min_pledge:
        raise invalid(f"a pledge is at least {drive.min_pledge} points", "amount")
    if total > MAX_POINTS:
        raise invalid(f"a pledge is at most {MAX_POINTS:,}", "amount")


def check_withdraw(drive: Drive, current: int | None, now: datetime) -> None:
    check_window(drive.open, drive.starts_at, drive.ends_at, now, "campaignId")
    if not drive.allow_withdraw:
        raise DomainError(
            ErrorCode.INVALID_STATE, "this campaign does not allow withdrawing a pledge"
        )
    if current is None:
        raise DomainError(ErrorCode.NOT_FOUND, "you have no pledge in this campaign", "campaignId")


def campaign_outcome(pledged: int, goal: int) -> CampaignOutcome:
    return CampaignOutcome.REACHED if pledged >= goal else CampaignOutcome.MISSED
