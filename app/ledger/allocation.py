"""Pure allocation arithmetic: which lots a debit takes, and how much from each."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Take:
    source_id: int  # a lot id (taking) or an allocation id (giving back)
    amount: int


def take_in_order(sources: Iterable[tuple[int, int]], amount: int) -> list[Take]:
    """Take ``amount`` from ``(id, available)`` sources in the order given, as far as they go.

    The caller orders the sources (FIFO by expiry for a spend); the sum of the takes is
    ``amount`` or, when the sources run dry, everything they had.
    """
    if amount < 0:
        raise ValueError("amount must not be negative")
    takes: list[Take] = []
    left = amount
    for source_id, available in sources:
        if left == 0:
            break
        portion = min(available, left)
        if portion > 0:
            takes.append(Take(source_id, portion))
            left -= portion
    return takes


def total(takes: Iterable[Take]) -> int:
    return sum(take.amount for take in takes)
