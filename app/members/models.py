from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from app.ledger.models import MemberStatus as MemberStatus  # the ledger's rules read it


@dataclass(frozen=True)
class ChannelRef:
    channel: str
    external_ref: str


@dataclass(frozen=True)
class Member:
    id: int
    status: MemberStatus
    status_reason: str | None
    name: str | None
    phone: str | None
    birthday: date | None
    timezone: str | None
    tags: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True)
class Registration:
    member: Member
    created: bool  # False when (channel, external_ref) was already registered


@dataclass(frozen=True)
class StatusChange:
    """A freeze, unfreeze or closure, with why and by whom."""

    from_status: MemberStatus
    to_status: MemberStatus
    reason: str
    actor: str
    created_at: datetime
