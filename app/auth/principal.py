"""Who is asking: a member, staff, a partner, or nobody.

A principal is decided once per request (or WebSocket connection) from its credential and is
then only read. The ledger records it as an :class:`~app.ledger.models.Actor`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from app.ledger.models import Actor, Balance
from app.members.models import Member


class PrincipalKind(StrEnum):
    MEMBER = "member"
    STAFF = "staff"
    PARTNER = "partner"
    WIDGET = "widget"  # a public widget key: reads one board, nothing else (docs/WIDGETS.md)
    ANONYMOUS = "anonymous"


class Role(StrEnum):
    """Staff roles. Admin may do everything; operator runs points and members; analyst reads."""

    ADMIN = "admin"
    OPERATOR = "operator"
    ANALYST = "analyst"


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    member_id: int | None = None
    staff_name: str | None = None
    roles: frozenset[Role] = frozenset()
    partner: str | None = None
    channel: str | None = None  # a partner acts for exactly one channel
    scopes: frozenset[str] = frozenset()
    board: str | None = None  # the one board a widget key reads
    read_only: bool = False  # a frozen member: may read, may not write (app/auth/standing.py)
    # The credential, for what outlives one request (a WebSocket): when a token stops being
    # valid, and which key a partner used. Not part of who the principal is.
    expires_at: datetime | None = field(default=None, compare=False)
    key_prefix: str | None = field(default=None, compare=False)
    # A member's row as read at authentication (app/auth/standing.py): an HTTP request primes
    # its member loader with it, so ``me`` costs no second read. Only for that request — the
    # GraphQL context drops it, so a WebSocket's long-lived principal never serves it stale.
    member_row: Member | None = field(default=None, compare=False, repr=False)
    # Its balance, when read in the same statement (``in_standing(..., with_balance=True)``):
    # primes the balance loader the same way, for the same request only.
    member_balance: Balance | None = field(default=None, compare=False, repr=False)
    # A member's token whose standing is not read yet: the GraphQL layer reads it before the
    # operation runs, or — for a mutation that may refuse first without the database (a flash
    # sale's gate) — only once it gets past that refusal (app/graphql/core/standing.py).
    standing_pending: bool = field(default=False, compare=False)

    @classmethod
    def member(cls, member_id: int) -> Principal:
        return cls(PrincipalKind.MEMBER, member_id=member_id)

    @classmethod
    def staff(cls, name: str, roles: frozenset[Role] | set[Role]) -> Principal:
        return cls(PrincipalKind.STAFF, staff_name=name, roles=frozenset(roles))

    @classmethod
    def of_partner(cls, name: str, channel: str, scopes: frozenset[str] | set[str]) -> Principal:
        return cls(PrincipalKind.PARTNER, partner=name, channel=channel, scopes=frozenset(scopes))

    @classmethod
    def widget(cls, board: str) -> Principal:
        return cls(PrincipalKind.WIDGET, board=board, read_only=True)

    @property
    def name(self) -> str:
        """The stable string recorded on entries and used to scope idempotency keys."""
        if self.kind is PrincipalKind.MEMBER:
            return f"member:{self.member_id}"
        if self.kind is PrincipalKind.STAFF:
            return f"staff:{self.staff_name}"
        if self.kind is PrincipalKind.PARTNER:
            return f"partner:{self.partner}"
        if self.kind is PrincipalKind.WIDGET:
            return f"widget:{self.board}"
        return "anonymous"

    @property
    def is_anonymous(self) -> bool:
        return self.kind is PrincipalKind.ANONYMOUS

    def to_actor(self) -> Actor:
        partner = self.kind is PrincipalKind.PARTNER
        return Actor(
            principal=self.name,
            # Shown on entries as where the request came from; ownership is never read from it
            # (a partner's channel may be named like the internal "api"): see Actor.kind.
            source=self.channel if partner and self.channel else "api",
            roles=frozenset(role.value for role in self.roles),
            kind=self.kind.value,
            partner_channel=self.channel if partner else None,
        )


ANONYMOUS = Principal(PrincipalKind.ANONYMOUS)
