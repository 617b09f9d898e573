"""Pacing the expiry sweep: a budget of lots a second (``JIFEN_EXPIRY_SWEEP_LOTS_PER_SECOND``),
enforced after every batch with the clock.

On a machine the API shares, a sweep at full speed takes a core from it and the API's tail
latency follows (docs/PERFORMANCE.md "Expiry sweep"). A paced sweep does the same work spread
thin: small batches (a quarter of a second of the budget each, so no batch is a burst and no
account stays locked for long) and a sleep after each until the budget's schedule catches up.

The schedule: a batch of ``n`` lots costs ``n / budget`` seconds; the next batch may start when
the costs so far are paid. A sweep slower than its budget (a loaded box) earns at most one tick
of credit, so it never bursts to catch up. Unpaced (budget 0): full batches, no sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from app.clock import Clock

# How much of the budget one paced batch carries: small enough that a batch is not a burst in
# the API's p99, large enough that a batch's fixed cost (five statements, a transaction) stays
# small against its rows — measured: batches of 250 lots cost 50 µs a lot, of 1,000 and more
# about 30 (docs/PERFORMANCE.md "Expiry sweep").
TICK = timedelta(milliseconds=250)
# Before the first batch the lots per account are unknown: guessing many keeps that first batch
# small (the next ones are sized by what the sweep saw).
FIRST_GUESS_LOTS_PER_ACCOUNT = 10

Sleep = Callable[[float], Awaitable[None]]


class Pace:
    """The sweep's pace: how many accounts the next batch takes, and the wait after a batch."""

    def __init__(
        self, clock: Clock, lots_per_second: int, batch: int, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.clock = clock
        self.lots_per_second = lots_per_second
        self.batch = batch
        self.sleep = sleep
        self.lots = 0
        self.accounts = 0
        self._next_start: datetime = clock.now()

    @property
    def paced(self) -> bool:
        return self.lots_per_second > 0

    def next_batch(self) -> int:
        """Accounts for the next batch: the whole batch unpaced; paced, a tick of the budget
        at the lots per account seen so far."""
        if not self.paced:
            return self.batch
        per_account = self.lots / self.accounts if self.accounts else FIRST_GUESS_LOTS_PER_ACCOUNT
        wanted = int(self.lots_per_second * TICK.total_seconds() / per_account)
        return max(1, min(self.batch, wanted))

    async def settled(self, accounts: int, lots: int) -> None:
        """A batch settled ``accounts`` accounts expiring ``lots`` lots: wait until the budget
        has paid for them. (An account settled with no lot to expire, matured pending points
        only, counts as one lot: it cost a row.)"""
        self.accounts += accounts
        self.lots += lots
        if not self.paced:
            return
        now = self.clock.now()
        cost = lots / self.lots_per_second
        self._next_start = max(self._next_start, now - TICK) + timedelta(seconds=cost)
        # Never longer than this batch's cost: the clock is the wall clock, and one stepped
        # back (NTP) must not stall the sweep for the length of the step.
        wait = min((self._next_start - now).total_seconds(), cost)
        if wait > 0:
            await self.sleep(wait)
