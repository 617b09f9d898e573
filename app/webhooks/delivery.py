"""An attempt: sign the leased message, send it once, and settle what it makes of the message.

The lease (app/webhooks/leases.py) keeps other senders away while it stands; the settled outcome
is written with others' by the process's pump (app/webhooks/pump.py), guarded by the lease
token: a sender whose lease ran out (it took longer than the lease) still records its attempt
but no longer moves the message.
"""

from __future__ import annotations

from app import metrics
from app.clock import Clock, system_clock
from app.logging import get_logger
from app.webhooks.leases import Lease
from app.webhooks.recording import Settled, settle
from app.webhooks.schedule import Outcome, judge
from app.webhooks.signing import headers, message_id
from app.webhooks.transport import Sender

log = get_logger("app.webhooks.delivery")


async def attempt(sender: Sender, lease: Lease, clock: Clock) -> Settled:
    """Send the leased message once; its next step, to be recorded."""
    # The signature's timestamp is the wall clock's: the receiver checks it against its own to
    # refuse replays. Schedules follow the app's clock.
    signed = headers(message_id(lease.event_id), lease.body, lease.secrets, system_clock.now())
    answer = await sender.post(lease.url, signed, lease.body)
    return settle(lease, answer, judge(answer.status, answer.retry_after), clock.now())


def recorded(settled: Settled) -> None:
    """Count and log an attempt once it is recorded."""
    metrics.webhook_attempts.labels(settled.outcome.value).inc()
    metrics.webhook_attempt_duration.observe(settled.answer.duration_ms / 1000)
    if settled.outcome is not Outcome.DELIVERED:
        log.info(
            "webhooks.attempt_failed",
            endpoint_id=settled.lease.endpoint_id,
            message_id=settled.lease.message_id,
            status=settled.answer.status,
            error=settled.answer.error,
            outcome=settled.outcome.value,
        )
