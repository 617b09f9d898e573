"""Signing secrets and the Standard Webhooks headers (signed by the ``standardwebhooks`` library).

A secret is ``whsec_`` and 32 random bytes in base64. During a rotation's overlap both the new
and the previous secret sign each message: ``webhook-signature`` carries both, space separated,
so a receiver that still has the old secret verifies, and one with the new secret too.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime
from math import floor

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def message_id(event_id: int) -> str:
    """``webhook-id``: the same on every attempt and resend of an event's message, and for every
    endpoint it goes to: the receiver's idempotency key."""
    return f"msg_{event_id}"


def headers(
    msg_id: str, body: bytes, signing_secrets: Sequence[str], at: datetime
) -> dict[str, str]:
    signatures = " ".join(Webhook(secret).sign(msg_id, at, body) for secret in signing_secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(floor(at.timestamp())),
        "webhook-signature": signatures,
    }
