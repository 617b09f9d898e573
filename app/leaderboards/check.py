"""Checking a board against the ledger: every member's points on each period set, compared with
what the ledger says they earned (``jifen leaderboards check``, ``jifen audit --boards``).

The board holds exactly the events up to its cursor (and a rebuilt set up to its marker, when
that is further). Both are safe horizons (app/leaderboards/projector.py): every event at or
below them was final when they were set. So the ledger's side is the rebuild's sums counting
the events up to the same id, and the comparison is exact whatever the projector is doing: an
event the projector skipped (or applied twice) is a difference, one it has not reached yet is
not. The board's side is read in one Redis transaction, so it is one instant of the board.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from app.leaderboards.boards import (
    Period,
    PeriodKind,
    board_key,
    cursor_key,
    decode_element,
    get_board,
    markers_key,
)
from app.leaderboards.rebuild import kept_periods, ledger_standings
from app.runtime import Runtime

SHOWN = 20


@dataclass(frozen=True)
class Difference:
    period: str  # the period set's field, e.g. "monthly:2026-11"
    member_id: int
    board: int  # points on the board (0: not on it)
    ledger: int  # points the ledger counts for the same events


@dataclass
class BoardCheck:
    board: str
    cursor: int  # the board's events are those up to here (0: none applied yet)
    members: dict[str, int] = field(default_factory=dict)  # period field → members compared
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def render(self) -> str:
        lines = [f"board {self.board}, up to event {self.cursor}:"]
        lines += [f"  {name}: {count} members" for name, count in self.members.items()]
        for d in self.differences[:SHOWN]:
            lines.append(
                f"  DIFFERENT {d.period} member {d.member_id}: board {d.board}, ledger {d.ledger}"
            )
        if len(self.differences) > SHOWN:
            lines.append(f"  … and {len(self.differences) - SHOWN} more")
        count = len(self.differences)
        verdict = "matches the ledger" if self.ok else f"DIFFERS from the ledger: {count} member(s)"
        lines.append(f"board {self.board} {verdict}")
        return "\n".join(lines)


async def _board_points(
    rt: Runtime, board: str, periods: Sequence[Period]
) -> tuple[int, dict[str, int], dict[Period, dict[int, int]]]:
    """Cursor, markers and each set's member → points, read in one MULTI/EXEC."""
    async with rt.redis.pipeline(transaction=True) as pipe:
        pipe.get(cursor_key(board))
        pipe.hgetall(markers_key(board))
        for period in periods:
            pipe.zrange(board_key(board, period), 0, -1, withscores=True)
        replies = await pipe.execute()
    cursor = 0 if replies[0] is None else int(replies[0])
    markers = {k.decode(): int(v) for k, v in cast(dict[bytes, bytes], replies[1]).items()}
    points: dict[Period, dict[int, int]] = {}
    for period, scored in zip(periods, replies[2:], strict=True):
        on_board = cast(list[tuple[bytes, float]], scored)
        points[period] = {decode_element(e)[0]: int(score) for e, score in on_board}
    return cursor, markers, points


async def check_board(
    rt: Runtime,
    board_name: str = "points-earned",
    periods: Sequence[PeriodKind] | None = None,
    *,
    at: datetime | None = None,
) -> BoardCheck:
    """Compare the board's period sets containing ``at`` (default now) with the ledger."""
    board = get_board(board_name)
    targets = list(kept_periods(rt, periods, at, []))
    cursor, markers, on_board = await _board_points(rt, board.name, targets)
    report = BoardCheck(board=board.name, cursor=cursor)
    # A rebuilt set already holds the events up to its marker, the others up to the cursor.
    by_upto: dict[int, list[Period]] = {}
    for period in targets:
        by_upto.setdefault(max(cursor, markers.get(period.field, 0)), []).append(period)
    for upto, group in by_upto.items():
        standings = await ledger_standings(rt, board, group, upto)
        for period in group:
            counted = {t.member_id: t.points for t in standings[period]}
            shown = on_board[period]
            report.members[period.field] = len(counted.keys() | shown.keys())
            report.differences += [
                Difference(period.field, m, shown.get(m, 0), counted.get(m, 0))
                for m in sorted(counted.keys() | shown.keys())
                if shown.get(m, 0) != counted.get(m, 0)
            ]
    return report
