"""The pure part of a refund: how many of an order's points its refunded part accounts for."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from app.earning.caps import floor


def clawback_target(
    awarded: int,
    line_points: Sequence[Decimal],
    order_points: Decimal,
    line_amounts: Sequence[Decimal],
    refunded: Sequence[Decimal],
) -> int:
    """How many of ``awarded`` points the refunded part of an order accounts for, in all.

    Each line's points count in proportion to how much of the line is refunded; fixed (order)
    points in proportion to how much of the order is. The awarded points (after rounding and
    caps) are shared out in proportion to the computed ones, rounded down; a full refund is
    exactly ``awarded``. The claw-back of one refund is this target minus what earlier refunds
    clawed back, so nothing is ever clawed back twice and rounding never drifts.
    """
    order_total = sum(line_amounts, Decimal(0))
    refunded_total = sum(refunded, Decimal(0))
    if awarded == 0:
        return 0
    if refunded_total >= order_total:
        return awarded
    computed = sum(line_points, Decimal(0)) + order_points
    if computed <= 0:
        return 0
    share = Decimal(0)
    for points, amount, back in zip(line_points, line_amounts, refunded, strict=True):
        if amount > 0:
            share += points * back / amount
    if order_total > 0:
        share += order_points * refunded_total / order_total
    return min(floor(Decimal(awarded) * share / computed), awarded)
