"""Balances as the committed transaction wrote them, for the answer to that write.

A write's answer (``PointsPosted.balance`` and the like) used to re-read the balance in a new
connection after the COMMIT; when that re-read failed (a database fault), a committed write was
answered with an error. The ledger now records each account's balance as it saves it, and the
record is kept only once the unit of work has committed (``app.db.after_commit``).
"""

from __future__ import annotations

from contextvars import ContextVar

from app.db import after_commit
from app.ledger.models import Balance

# Per request (each request runs in its own task, so its own context); None until a write.
_posted: ContextVar[dict[int, Balance] | None] = ContextVar("posted_balances", default=None)


def record(member_id: int, balance: Balance) -> None:
    """The member's balance as this transaction leaves it; kept if and when it commits."""
    after_commit(lambda: keep(member_id, balance))


def keep(member_id: int, balance: Balance) -> None:
    """The balance a committed write left (a write committed by its one statement records it
    itself)."""
    posted = _posted.get()
    if posted is None:
        posted = {}
        _posted.set(posted)
    posted[member_id] = balance


def take(member_id: int) -> Balance | None:
    """The balance the last committed write of this request left, once (None: no such write,
    e.g. an idempotent replay, which then reads the balance as of now)."""
    posted = _posted.get()
    return None if posted is None else posted.pop(member_id, None)
