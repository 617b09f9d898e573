"""An attempt: sign the leased message, send it once, record what happened.

The lease (app/webhooks/leases.py) keeps other senders away while it stands; the outcome is
written with others' by the process's recorder (app/webhooks/recording.py), through one
connection, guarded by the lease token: a sender whose lease ran out (it took longer than the
lease) still records its attempt but no longer moves the message.
"""

from __future__ import annotations

from app import metrics
from app.clock import system_clock
from app.logging import get_logger
from app.webhooks.leases import Lease
from app.webhooks.recording import Recorder
from app.webhooks.schedule import Outcome, judge
from app.webhooks.signing import headers, message_id
from app.webhooks.transport import Sender

log = get_logger("app.webhooks.delivery")


async def attempt(sender: Sender, recorder: Recorder, lease: Lease) -> Outcome:
    """Send the leased message once and record the outcome."""
    # The signature's timestamp is the wall clock's: the receiver checks it against its own to
    # refuse replays. Schedules follow the app's clock.
    signed = headers(message_id(lease.event_id), lease.body, lease.secrets, system_clock.now())
    answer = await sender.post(lease.url, signed, lease.body)
    verdict = judge(answer.status, answer.retry_after)
    outcome = await recorder.record(lease, answer, verdict)
    metrics.webhook_attempts.labels(outcome.value).inc()
    metrics.webhook_attempt_duration.observe(answer.duration_ms / 1000)
    if outcome is not Outcome.DELIVERED:
        log.info(
            "webhooks.attempt_failed",
            endpoint_id=lease.endpoint_id,
            message_id=lease.message_id,
            status=answer.status,
            error=answer.error,
            outcome=outcome.value,
        )
    return outcome
