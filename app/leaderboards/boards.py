"""Boards, periods, Redis key names and the tie-break encoding: pure functions, no I/O.

A board is a name ("points-earned") and a rule saying which ledger entries count. Each board has
one sorted set per period instance: the day, the ISO week and the month in the programme's
business timezone, and all time. Instants are always turned into periods here, with the timezone
passed in, so the projector (Python) and the rebuild (SQL bounds computed here) agree.

Ranking order, identical in Redis and in SQL (``ORDER BY points DESC, reached_at, member_id``):

1. more points first;
2. equal points: who *reached* their total first (the instant of their last entry that changed
   their score in this period) ranks higher;
3. still equal (same microsecond): the smaller member id ranks higher.

How it is encoded: the sorted-set **score is the exact point total** (an integer; doubles are
exact to 2**53, far beyond any total). The tie-break lives in the **element**: a fixed-width
string ``<inverted reached-at µs, 17 digits>.<inverted member id, 19 digits>``. Redis orders
equal scores by element bytes, and ``ZREVRANGE``/``ZREVRANK`` take them in descending byte order,
so a larger inverted instant (an *earlier* instant) and then a larger inverted id (a *smaller*
id) come first. A per-period hash maps member id → current element, so a member's entry can be
found, moved and ranked. Nothing is squeezed into the 53 bits of a double: totals and instants
have no precision limit to design around (see docs/LEADERBOARDS.md for the alternatives).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from app.errors import DomainError, ErrorCode, invalid

TS_DIGITS = 17  # microseconds since 1970 up to year ~5138
ID_DIGITS = 19  # a PostgreSQL bigint is below 10**19
TS_CEILING = 10**TS_DIGITS - 1
ID_CEILING = 10**ID_DIGITS - 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

MAX_TOP = 100
MAX_NEIGHBOURS = 50

# How long a finished period's board is kept after its end (all-time boards are kept forever).
# A late event (say a reversal) for a period past this is ignored: the board is gone.
KEEP_AFTER_END = {
    "daily": timedelta(days=8),
    "weekly": timedelta(days=35),
    "monthly": timedelta(days=400),
}


class PeriodKind(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    ALL_TIME = "all-time"


ALL_TIME_ID = "all"


@dataclass(frozen=True)
class Period:
    """One period instance, e.g. monthly ``2026-11``: ``[start, end)``, both None for all time."""

    kind: PeriodKind
    id: str
    start: datetime | None
    end: datetime | None

    @property
    def field(self) -> str:
        """The period's name inside a board's keys: ``monthly:2026-11``."""
        return f"{self.kind.value}:{self.id}"

    def contains(self, at: datetime) -> bool:
        return (self.start is None or self.start <= at) and (self.end is None or at < self.end)

    def ttl_seconds(self, now: datetime) -> int | None:
        """Seconds its board is still kept (None: forever; <= 0: retired, write nothing)."""
        if self.end is None:
            return None
        keep_until = self.end + KEEP_AFTER_END[self.kind.value]
        return int((keep_until - now).total_seconds())


@dataclass(frozen=True)
class Board:
    """A leaderboard's definition: which entry kinds count (their reversals subtract)."""

    name: str
    description: str
    counted_kinds: frozenset[str]
    # The outbox event types that may carry a counted entry or a reversal of one.
    event_types: frozenset[str]

    def contribution(self, kind: str, amount: int, reversed_kind: str | None) -> int:
        """How much an entry changes a member's score on this board (0: not at all)."""
        if kind in self.counted_kinds:
            return amount
        if kind == "reversal" and reversed_kind in self.counted_kinds:
            return amount  # negative: the claw-back of a counted credit
        return 0


POINTS_EARNED = Board(
    name="points-earned",
    description=(
        "Points earned: earn entries, minus what reversals of earn entries took back. "
        "Adjustments, spending, expiry and reversals of spending do not count."
    ),
    counted_kinds=frozenset({"earn"}),
    event_types=frozenset({"points.earned", "points.reversed"}),
)

BOARDS: dict[str, Board] = {POINTS_EARNED.name: POINTS_EARNED}


def get_board(name: str) -> Board:
    board = BOARDS.get(name)
    if board is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"leaderboard {name!r} does not exist", "board")
    return board


def parse_kind(value: str) -> PeriodKind:
    try:
        return PeriodKind(value)
    except ValueError:
        choices = ", ".join(kind.value for kind in PeriodKind)
        raise invalid(f"period must be one of {choices}", "period") from None


# --------------------------------------------------------------------------------- periods


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _period_for_day(kind: PeriodKind, day: date, zone: ZoneInfo) -> Period:
    if kind is PeriodKind.DAILY:
        first, after = day, day + timedelta(days=1)
        ident = day.isoformat()
    elif kind is PeriodKind.WEEKLY:
        year, week, weekday = day.isocalendar()
        first = day - timedelta(days=weekday - 1)
        after = first + timedelta(days=7)
        ident = f"{year:04d}-W{week:02d}"
    else:  # MONTHLY
        first = day.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
        ident = f"{day.year:04d}-{day.month:02d}"
    return Period(kind, ident, _local_midnight(first, zone), _local_midnight(after, zone))


def period_of(kind: PeriodKind, at: datetime, tz: str) -> Period:
    """The period of ``kind`` an instant falls in, in the business timezone ``tz``."""
    if at.tzinfo is None:
        raise ValueError("period_of needs an aware datetime")
    if kind is PeriodKind.ALL_TIME:
        return Period(kind, ALL_TIME_ID, None, None)
    zone = ZoneInfo(tz)
    return _period_for_day(kind, at.astimezone(zone).date(), zone)


def periods_of(at: datetime, tz: str) -> list[Period]:
    """Every period an instant counts in: its day, ISO week, month, and all time."""
    if at.tzinfo is None:
        raise ValueError("periods_of needs an aware datetime")
    return list(_periods_of_day(at.astimezone(ZoneInfo(tz)).date(), tz))


@lru_cache(maxsize=64)
def _periods_of_day(day: date, tz: str) -> tuple[Period, ...]:
    # The projector asks for every entry, and a batch's entries share a day or two: made once.
    zone = ZoneInfo(tz)
    return tuple(
        Period(kind, ALL_TIME_ID, None, None)
        if kind is PeriodKind.ALL_TIME
        else _period_for_day(kind, day, zone)
        for kind in PeriodKind
    )


_DAILY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_WEEKLY = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTHLY = re.compile(r"^(\d{4})-(\d{2})$")


def parse_period(kind: PeriodKind, ident: str, tz: str) -> Period:
    """A period from its id (``2026-11-23``, ``2026-W48``, ``2026-11``, ``all``), validated."""
    zone = ZoneInfo(tz)
    try:
        if kind is PeriodKind.ALL_TIME:
            if ident != ALL_TIME_ID:
                raise ValueError(ident)
            return Period(kind, ALL_TIME_ID, None, None)
        if kind is PeriodKind.DAILY and (m := _DAILY.match(ident)):
            day = date(int(m[1]), int(m[2]), int(m[3]))
        elif kind is PeriodKind.WEEKLY and (m := _WEEKLY.match(ident)):
            day = date.fromisocalendar(int(m[1]), int(m[2]), 1)
        elif kind is PeriodKind.MONTHLY and (m := _MONTHLY.match(ident)):
            day = date(int(m[1]), int(m[2]), 1)
        else:
            raise ValueError(ident)
    except ValueError:
        examples = {
            PeriodKind.DAILY: "2026-11-23",
            PeriodKind.WEEKLY: "2026-W48",
            PeriodKind.MONTHLY: "2026-11",
            PeriodKind.ALL_TIME: ALL_TIME_ID,
        }
        raise invalid(
            f"{ident!r} is not a {kind.value} period (e.g. {examples[kind]})", "periodId"
        ) from None
    period = _period_for_day(kind, day, zone)
    if period.id != ident:  # e.g. a zero-padding difference
        raise invalid(f"{ident!r} is not a {kind.value} period", "periodId")
    return period


# ------------------------------------------------------------------------------------ keys


def _tag(board: str) -> str:
    # A Redis Cluster hash tag: every key of one board lives in one slot, so the Lua scripts
    # that touch a board's cursor and its period sets run on one node.
    return f"lb:{{{board}}}"


def board_key(board: str, period: Period) -> str:
    """The sorted set: ``lb:{points-earned}:monthly:2026-11``."""
    return f"{_tag(board)}:{period.field}"


def index_key(board: str, period: Period) -> str:
    """The hash member id → current element of ``board_key``."""
    return f"{board_key(board, period)}:members"


def cursor_key(board: str) -> str:
    """The last event id applied to every period set of the board (no marker of its own)."""
    return f"{_tag(board)}:applied"


def markers_key(board: str) -> str:
    """Hash period field → event id a rebuilt set already contains (ahead of the cursor)."""
    return f"{_tag(board)}:markers"


def temp_prefix(board: str, token: str) -> str:
    return f"{_tag(board)}:rebuild:{token}"


def leaderboard_topic(board: str, period: Period) -> str:
    """The topic a change notice is published on: ``leaderboard:points-earned:monthly:2026-11``."""
    return f"leaderboard:{board}:{period.field}"


# ------------------------------------------------------------------------------ tie-break


def to_micros(at: datetime) -> int:
    delta = at - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def encode_element(member_id: int, reached_at: datetime) -> str:
    """The sorted-set element: an earlier ``reached_at``, then a smaller id, ranks higher."""
    return encode_micros(member_id, to_micros(reached_at))


def encode_micros(member_id: int, micros: int) -> str:
    """:func:`encode_element` of an instant given in microseconds since 1970."""
    if not 0 <= micros <= TS_CEILING:
        raise ValueError(f"instant out of range: {micros} µs since 1970")
    if not 0 <= member_id <= ID_CEILING:
        raise ValueError(f"member id out of range: {member_id}")
    return f"{TS_CEILING - micros:0{TS_DIGITS}d}.{ID_CEILING - member_id:0{ID_DIGITS}d}"


def decode_element(element: str | bytes) -> tuple[int, datetime]:
    """``(member_id, reached_at)`` of an element."""
    text = element.decode() if isinstance(element, bytes) else element
    inverted_ts, inverted_id = text.split(".")
    return ID_CEILING - int(inverted_id), from_micros(TS_CEILING - int(inverted_ts))


def ranking_key(points: int, reached_at: datetime, member_id: int) -> tuple[int, int, int]:
    """A Python sort key equal to the board's order (for tests and reports)."""
    return (-points, to_micros(reached_at), member_id)


# --------------------------------------------------------------------------------- changes


@dataclass(frozen=True)
class ScoredEntry:
    """A ledger entry as the projector reads it, with the entry it reverses (if any)."""

    event_id: int
    member_id: int
    kind: str
    amount: int
    created_at: datetime
    reversed_kind: str | None = None
    reversed_created_at: datetime | None = None


@dataclass(frozen=True)
class Change:
    """Apply ``delta`` to ``member_id`` on one period set; ``element`` carries the tie-break."""

    event_id: int
    period: Period
    member_id: int
    delta: int
    element: str
    ttl: int | None


def changes_for(board: Board, entry: ScoredEntry, tz: str, now: datetime) -> list[Change]:
    """What one entry does to a board: a change per period it counts in (none if it doesn't).

    A reversal counts in the periods of the entry it reverses (a refund in December of points
    earned in November lowers November's total), and the member "reached" the new total when
    the reversal was written.
    """
    delta = board.contribution(entry.kind, entry.amount, entry.reversed_kind)
    if delta == 0:
        return []
    counted_at = entry.created_at
    if entry.kind == "reversal" and entry.reversed_created_at is not None:
        counted_at = entry.reversed_created_at
    element = encode_element(entry.member_id, entry.created_at)
    changes = []
    for period in periods_of(counted_at, tz):
        ttl = period.ttl_seconds(now)
        if ttl is not None and ttl <= 0:
            continue  # the period's board is retired
        changes.append(Change(entry.event_id, period, entry.member_id, delta, element, ttl))
    return changes
