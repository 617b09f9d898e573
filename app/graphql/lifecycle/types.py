"""The points lifecycle: expiry alerts, notifications, gifts, coalition exchange, the policy.

``expiryAlerts(memberId, after)`` is ``memberEvents`` narrowed to ``points.expiring``: the same
replay-then-live stream, resumable with the last alert's ``id``.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import strawberry

from app.events.stream import StoredEvent
from app.graphql.core.fanout import SharedBySubscribers, event_identity
from app.graphql.core.fields import described_field
from app.graphql.core.pagination import Connection
from app.graphql.ledger.types import BalanceNode
from app.graphql.lifecycle.enums import Direction, MoveKind, SpendKind
from app.lifecycle import bank, exchange
from app.lifecycle import notifications as notes
from app.lifecycle.gifting import Gift


@strawberry.type(
    name="ExpiryAction",
    description="A second life for expiring points: moveExpiringPoints(input: {memberId, "
    "validThrough, to, …}), or the app link that carries the same.",
)
class ExpiryActionNode:
    action: str = strawberry.field(description="donation | lottery")
    mutation: str
    to: str = strawberry.field(description="moveExpiringPoints' `to`: DONATION | LOTTERY.")
    valid_through: date
    link: str

    @classmethod
    def all_of(cls, payload: dict[str, Any]) -> list[ExpiryActionNode]:
        return [
            cls(
                action=a["action"],
                mutation=a["mutation"],
                to=a["to"],
                valid_through=date.fromisoformat(a["valid_through"]),
                link=a["link"],
            )
            for a in payload.get("actions", [])
        ]


@strawberry.type(name="ExpiryAlert", description="Points about to expire (a reminder, live).")
class ExpiryAlertNode(SharedBySubscribers):
    event: strawberry.Private[StoredEvent]

    def shared_key(self) -> Hashable:
        return event_identity(self.event)  # every field below reads the event alone

    @described_field("What the member may do with the points before they expire.")
    def actions(self) -> list[ExpiryActionNode]:
        return ExpiryActionNode.all_of(self.event.payload)

    @described_field("The event id: resume with `after: id`.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.event.id))

    @strawberry.field
    def member_id(self) -> strawberry.ID:
        return strawberry.ID(str(self.event.payload["member_id"]))

    @strawberry.field
    def notification_id(self) -> strawberry.ID:
        return strawberry.ID(str(self.event.payload["notification_id"]))

    @described_field("Points that expire after `validThrough`.")
    def points(self) -> int:
        return int(self.event.payload["points"])

    @described_field("The last business-local day these points can be spent.")
    def valid_through(self) -> date:
        return date.fromisoformat(self.event.payload["expires_on"])

    @strawberry.field
    def expires_at(self) -> datetime:
        return datetime.fromisoformat(self.event.payload["expires_at"])

    @described_field("The reminder's threshold (30, 7…) and the days left when it was sent.")
    def threshold_days(self) -> int:
        return int(self.event.payload["threshold_days"])

    @strawberry.field
    def days_left(self) -> int:
        return int(self.event.payload["days_left"])

    @strawberry.field
    def created_at(self) -> datetime:
        return self.event.created_at


@strawberry.type(name="Notification", description="Something a member was told.")
class NotificationNode:
    id: strawberry.ID
    actions: list[ExpiryActionNode] = strawberry.field(
        description="For expiry reminders: what the member may do with the points before they "
        "expire (docs/BANK.md)."
    )
    kind: str = strawberry.field(description="points.expiring, …")
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None
    points: int | None = strawberry.field(description="For expiry reminders: how many.")
    valid_through: date | None = strawberry.field(description="For expiry reminders: until when.")

    @classmethod
    def of(cls, n: notes.Notification) -> NotificationNode:
        expires_on = n.payload.get("expires_on")
        return cls(
            id=strawberry.ID(str(n.id)),
            kind=n.kind,
            title=n.title,
            body=n.body,
            created_at=n.created_at,
            read_at=n.read_at,
            points=n.payload.get("points"),
            valid_through=date.fromisoformat(expires_on) if expires_on else None,
            actions=ExpiryActionNode.all_of(n.payload),
        )


@strawberry.type
class NotificationConnection(Connection[NotificationNode]):
    unread_count: int


@strawberry.type
class NotificationsMarked:
    marked: int
    unread_count: int


@strawberry.type(name="Gift", description="Points one member gave another.")
class GiftNode:
    id: strawberry.ID
    from_member_id: strawberry.ID
    to_member_id: strawberry.ID
    amount: int
    message: str | None
    sent_entry_id: strawberry.ID
    received_entry_id: strawberry.ID
    created_at: datetime

    @classmethod
    def of(cls, gift: Gift) -> GiftNode:
        return cls(
            id=strawberry.ID(str(gift.id)),
            from_member_id=strawberry.ID(str(gift.from_member_id)),
            to_member_id=strawberry.ID(str(gift.to_member_id)),
            amount=gift.amount,
            message=gift.message,
            sent_entry_id=strawberry.ID(str(gift.sent_entry_id)),
            received_entry_id=strawberry.ID(str(gift.received_entry_id)),
            created_at=gift.created_at,
        )


@strawberry.type
class GiftPayload:
    gift: GiftNode
    balance: BalanceNode = strawberry.field(description="The giver's balance after the gift.")


@strawberry.type(name="ExchangePartner", description="A coalition partner (积分联盟).")
class ExchangePartnerNode:
    code: str
    name: str
    rate_in: Decimal = strawberry.field(description="Our points for one partner point.")
    rate_out: Decimal = strawberry.field(description="Partner points for one of ours.")
    min_points: int = strawberry.field(description="Per exchange, in our points.")
    max_points: int = strawberry.field(description="Per exchange, in our points.")
    daily_limit: int = strawberry.field(description="Per member, day and direction.")
    enabled: bool
    updated_by: str

    @classmethod
    def of(cls, p: exchange.Partner) -> ExchangePartnerNode:
        return cls(
            code=p.code,
            name=p.name,
            rate_in=p.rate_in,
            rate_out=p.rate_out,
            min_points=p.min_points,
            max_points=p.max_points,
            daily_limit=p.daily_limit,
            enabled=p.enabled,
            updated_by=p.updated_by,
        )


@strawberry.type
class ExchangePartnerPayload:
    partner: ExchangePartnerNode


@strawberry.type(name="Exchange", description="Points converted with a partner.")
class ExchangeNode:
    id: strawberry.ID
    partner_code: str
    partner_ref: str
    direction: Direction
    member_id: strawberry.ID
    partner_points: int
    points: int = strawberry.field(description="Our points credited (IN) or debited (OUT).")
    rate: Decimal
    entry_id: strawberry.ID
    created_at: datetime
    replayed: bool = strawberry.field(description="True when this answers a replayed reference.")

    @classmethod
    def of(cls, e: exchange.Exchange) -> ExchangeNode:
        return cls(
            id=strawberry.ID(str(e.id)),
            partner_code=e.partner_code,
            partner_ref=e.partner_ref,
            direction=e.direction,
            member_id=strawberry.ID(str(e.member_id)),
            partner_points=e.partner_points,
            points=e.points,
            rate=e.rate,
            entry_id=strawberry.ID(str(e.entry_id)),
            created_at=e.created_at,
            replayed=e.replayed,
        )


@strawberry.type
class ExchangePayload:
    exchange: ExchangeNode
    balance: BalanceNode


@strawberry.type(name="LifecyclePolicy", description="The programme's lifecycle settings.")
class LifecyclePolicyNode:
    expiry_policy: str = strawberry.field(
        description="rolling:N, year_end[:N], fixed:YYYY-MM-DD or never (a rule may override it)."
    )
    expiry_description: str
    reminder_days: list[int] = strawberry.field(description="Days before expiry members are told.")
    gift_max_points: int = strawberry.field(description="The most one gift may move.")
    gift_daily_limit: int = strawberry.field(description="The most one member may give a day.")
    timezone: str = strawberry.field(description="Business days end at its midnight.")


@strawberry.type(name="BankMove", description="Expiring points a member moved before they went.")
class BankMoveNode:
    id: strawberry.ID
    member_id: strawberry.ID
    to: MoveKind
    valid_through: date
    points: int
    target: str = strawberry.field(description="The charity's or the lottery pool's code.")
    tickets: int
    entry_id: strawberry.ID
    created_at: datetime

    @classmethod
    def of(cls, m: bank.Move) -> BankMoveNode:
        return cls(
            id=strawberry.ID(str(m.id)),
            member_id=strawberry.ID(str(m.member_id)),
            to=m.kind,
            valid_through=m.expires_on,
            points=m.points,
            target=m.target,
            tickets=m.tickets,
            entry_id=strawberry.ID(str(m.entry_id)),
            created_at=m.created_at,
        )


@strawberry.type
class BankMovePayload:
    move: BankMoveNode
    balance: BalanceNode = strawberry.field(description="The member's balance after the move.")


@strawberry.type(name="PointsBank", description="The programme's pool of expired points.")
class PointsBankNode:
    balance: int = strawberry.field(description="Points in the pool now.")
    expired_in: int = strawberry.field(description="Every point that expired into it.")
    spent: int = strawberry.field(description="Every point staff spent of it.")

    @classmethod
    def of(cls, p: bank.Pool) -> PointsBankNode:
        return cls(balance=p.balance, expired_in=p.expired_in, spent=p.spent)


@strawberry.type(name="BankSpend", description="Staff's spend of the pool.")
class BankSpendNode:
    id: strawberry.ID
    kind: SpendKind
    points: int
    charity_code: str | None
    member_id: strawberry.ID | None
    entry_id: strawberry.ID | None
    reason: str
    created_at: datetime

    @classmethod
    def of(cls, s: bank.BankSpend) -> BankSpendNode:
        return cls(
            id=strawberry.ID(str(s.id)),
            kind=s.kind,
            points=s.points,
            charity_code=s.charity_code,
            member_id=None if s.member_id is None else strawberry.ID(str(s.member_id)),
            entry_id=None if s.entry_id is None else strawberry.ID(str(s.entry_id)),
            reason=s.reason,
            created_at=s.created_at,
        )


@strawberry.type
class BankSpendPayload:
    spend: BankSpendNode
    bank: PointsBankNode
