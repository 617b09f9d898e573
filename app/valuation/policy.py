"""Pure decisions about the point value: which value is in force at a moment. No I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


def plain(value: Decimal) -> Decimal:
    """``value`` without trailing zeros (0.200000 is 0.2), never in exponent form."""
    return Decimal(format(value.normalize(), "f"))


@dataclass(frozen=True)
class PointValue:
    value: Decimal  # CNY per point
    effective_from: datetime | None  # None: the configured default, before any change


def value_at(history: Sequence[PointValue], at: datetime, default: Decimal) -> Decimal:
    """The point value in force at ``at``: the latest change effective at or before it, else
    the configured default. ``history`` is ordered by ``effective_from``."""
    found = default
    for change in history:
        if change.effective_from is not None and change.effective_from <= at:
            found = change.value
    return found
