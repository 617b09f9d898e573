"""The ledger's writes as command objects: what to write, one frozen value per request.

Each :class:`app.ledger.service.Ledger` write takes one of these (and the actor who asks),
and so does each use case in ``usecases.py``: the fields are listed once here, not again in
every layer between the API and the ledger. A command is plain data; the ledger checks it
(amounts, text lengths, the member's status) when it writes.

Fields marked ``DOMAIN`` are set by the domains that post through the ledger (an earning
rule's expiry, the details an entry carries, the programme account on the other side), never
by a client: they are not part of the request an idempotency key is checked against.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from app.ledger.expiry import ExpiryPolicy

DOMAIN: dict[str, bool] = {"domain": True}


@dataclass(frozen=True)
class Earn:
    """Credit points to a member: a new lot, pending until ``available_at`` when later; it
    expires at ``expires_at`` when given, else by ``expiry`` (an earning rule's override), else
    by the programme's policy."""

    member_id: int
    amount: int
    reason: str
    reference: str | None = None
    available_at: datetime | None = None
    expires_at: datetime | None = None
    expiry: ExpiryPolicy | None = field(default=None, metadata=DOMAIN)
    details: dict[str, Any] | None = field(default=None, metadata=DOMAIN)
    counter_account: str = field(default="issuance", metadata=DOMAIN)


@dataclass(frozen=True)
class Spend:
    """Debit available points, taking the lots that expire first."""

    member_id: int
    amount: int
    reason: str
    reference: str | None = None
    counter_account: str = field(default="redemption", metadata=DOMAIN)


@dataclass(frozen=True)
class PlaceHold:
    """Reserve available points (phase one) until ``expires_at`` (default: the programme's
    hold time)."""

    member_id: int
    amount: int
    reason: str
    reference: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class CommitHold:
    """Phase two: the held points leave the member for good, to ``counter_account`` (the
    redemption account; a game's clearing account when they go on to another member)."""

    hold_id: int
    counter_account: str = field(default="redemption", metadata=DOMAIN)


@dataclass(frozen=True)
class VoidHold:
    """Release a hold: its points go back into the lots they came from."""

    hold_id: int
    reason: str


@dataclass(frozen=True)
class Reverse:
    """Reverse an entry: all of what is left of it, or ``amount`` of it."""

    entry_id: int
    reason: str
    amount: int | None = None


@dataclass(frozen=True)
class Adjust:
    """A staff correction, up (positive ``amount``) or down."""

    member_id: int
    amount: int
    reason: str


@dataclass(frozen=True)
class ExchangeIn:
    """Points converted from a partner programme (credited from its programme account)."""

    member_id: int
    amount: int
    partner_account: str
    reason: str
    reference: str | None = None
    details: dict[str, Any] | None = field(default=None, metadata=DOMAIN)


@dataclass(frozen=True)
class ExchangeOut:
    """Points converted to a partner programme (debited to its programme account)."""

    member_id: int
    amount: int
    partner_account: str
    reason: str
    reference: str | None = None


@dataclass(frozen=True)
class SendGift:
    """Move available points from one member to another."""

    sender_id: int
    recipient_id: int
    amount: int
    reason: str
    reference: str | None = None


Command = (
    Earn | Spend | PlaceHold | CommitHold | VoidHold | Reverse | Adjust | ExchangeIn | ExchangeOut
)


def request_of(command: Command) -> dict[str, Any]:
    """What an idempotency key is checked against: the command's client-set fields (the
    digests already stored were made of exactly these)."""
    return {
        f.name: getattr(command, f.name) for f in fields(command) if not f.metadata.get("domain")
    }
