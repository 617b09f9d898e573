"""One attempt on the wire, against a real receiver: a redirect is not followed, a receiver that
never answers is given up at the total timeout, and a huge answer is read only up to the cap."""

from __future__ import annotations

import threading
import time

from app.runtime import Runtime
from app.webhooks.schedule import Outcome, judge
from app.webhooks.transport import Sender
from tests.webhooks.conftest import tuned
from tests.webhooks.receiver import Receiver, Reply

SIGNED = {"webhook-id": "msg_1", "webhook-timestamp": "1", "webhook-signature": "v1,x"}


async def test_a_redirect_is_not_followed(wh_runtime: Runtime, receiver: Receiver) -> None:
    with Receiver() as elsewhere:
        receiver.script = lambda n, h: Reply(302, headers={"location": elsewhere.url})
        sender = Sender(wh_runtime.settings)
        try:
            answer = await sender.post(receiver.url, SIGNED, b"{}")
        finally:
            await sender.aclose()
        assert answer.status == 302
        assert judge(answer.status, answer.retry_after).outcome is Outcome.RETRY
        assert elsewhere.received == []  # never asked


async def test_a_receiver_that_never_answers_is_given_up_at_the_total_timeout(
    wh_runtime: Runtime, receiver: Receiver
) -> None:
    never = threading.Event()
    receiver.script = lambda n, h: Reply(hold=never)
    sender = Sender(tuned(wh_runtime, webhook_timeout_seconds=1.0).settings)
    started = time.monotonic()
    try:
        answer = await sender.post(receiver.url, SIGNED, b"{}")
    finally:
        never.set()
        await sender.aclose()
    assert answer.status is None and answer.error == "timed out"
    assert time.monotonic() - started < 10  # the receiver would have held it 30 s
    assert judge(answer.status, answer.retry_after).outcome is Outcome.RETRY


async def test_an_answer_is_read_only_up_to_the_cap(
    wh_runtime: Runtime, receiver: Receiver
) -> None:
    receiver.script = lambda n, h: Reply(200, body=b"y" * 5_000_000)
    sender = Sender(tuned(wh_runtime, webhook_response_bytes=100).settings)
    try:
        answer = await sender.post(receiver.url, SIGNED, b"{}")
    finally:
        await sender.aclose()
    assert answer.status == 200
    assert answer.excerpt == "y" * 100


async def test_a_literal_address_the_policy_refuses_is_not_connected_to(
    wh_runtime: Runtime, receiver: Receiver
) -> None:
    # Registered while allowed, then the operator's list no longer allows it: the URL's literal
    # 127.0.0.1 is not resolved, so it is checked before the request.
    sender = Sender(tuned(wh_runtime, webhook_allowed_networks=[]).settings)
    try:
        answer = await sender.post(receiver.url, SIGNED, b"{}")
    finally:
        await sender.aclose()
    assert answer.status is None
    assert answer.error is not None and answer.error.startswith("address refused")
    assert receiver.received == []
