"""The pump: one sender's loop of record-and-lease transactions, and its attempts in flight.

Each step is one short transaction on one connection: it writes the outcomes of the attempts
answered since the last step (app/webhooks/recording.py), then leases as many due messages as
slots are free (app/webhooks/leases.py); each lease is then attempted in a task of its own, and
its answer waits in the pump for the next step. An attempt's slot is taken from its lease until
its outcome is written, so at most ``webhook_concurrency`` attempts are in flight or waiting.

Why one transaction for both: a slot used to go round a lease transaction, the POST, and a
transaction of its own to record the outcome (each with the pool's ping), so at the database's
pace under load an endpoint's few slots spent most of their time waiting for transactions.
Writing first and leasing after in the same transaction also keeps the per-endpoint bound exact:
the endpoint's answered attempts no longer count as in flight when its next messages are leased.
"""

from __future__ import annotations

import asyncio

from app.logging import get_logger
from app.runtime import Runtime
from app.webhooks.delivery import attempt, recorded
from app.webhooks.leases import Lease, lease_on
from app.webhooks.recording import MAX_BATCH, Settled, write
from app.webhooks.schedule import Outcome
from app.webhooks.transport import Sender

log = get_logger("app.webhooks.pump")


class Pump:
    def __init__(self, rt: Runtime, sender: Sender, max_batch: int = MAX_BATCH) -> None:
        self._rt = rt
        self._sender = sender
        self._max_batch = max_batch
        self._running: set[asyncio.Task[None]] = set()
        self._answered: list[Settled] = []
        self.answered = asyncio.Event()  # set at each answer (clear it once seen)
        self.batches = 0  # transactions that wrote outcomes (for tests and the bench)

    @property
    def busy(self) -> bool:
        """Attempts in flight, or answered and not yet recorded."""
        return bool(self._running or self._answered)

    async def step(self, *, lease: bool = True) -> list[Outcome]:
        """Write the answers waiting (up to ``max_batch``) and lease for the free slots, in one
        transaction; start the attempts leased. The outcomes written, oldest first."""
        batch = self._answered[: self._max_batch]
        waiting = len(self._answered) - len(batch)
        free = self._rt.settings.webhook_concurrency - len(self._running) - waiting
        if not lease:
            free = 0
        if not batch and free <= 0:
            return []
        try:
            async with self._rt.engine.begin() as conn:
                if batch:
                    await write(conn, self._rt, batch)
                leases = await lease_on(conn, self._rt, free)
        except Exception:
            if batch:  # the leases run out and the messages are attempted again
                log.warning("webhooks.record_failed", attempts=len(batch))
                del self._answered[: len(batch)]
            raise
        del self._answered[: len(batch)]
        if batch:
            self.batches += 1
        for settled in batch:
            recorded(settled)
        for each in leases:
            self._start(each)
        return [settled.outcome for settled in batch]

    async def answers(self) -> None:
        """Until every attempt in flight has its answer (a synchronous round, tests)."""
        if self._running:
            await asyncio.wait(self._running)

    def cancel(self) -> list[asyncio.Task[None]]:
        """Cancel the attempts in flight (their leases run out); the tasks, to be awaited."""
        running = list(self._running)
        for task in running:
            task.cancel()
        return running

    def _start(self, lease: Lease) -> None:
        task = asyncio.create_task(self._attempt(lease))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _attempt(self, lease: Lease) -> None:
        try:
            settled = await attempt(self._sender, lease, self._rt.clock)
        except asyncio.CancelledError:
            raise
        except Exception:  # the lease runs out and the message is attempted again
            log.exception("webhooks.attempt_crashed", message_id=lease.message_id)
            return
        self._answered.append(settled)
        self.answered.set()
