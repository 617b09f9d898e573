"""The points lifecycle in GraphQL: expiry alerts (live), notifications, gifting, exchange.

``expiryAlerts(memberId, after)`` is ``memberEvents`` narrowed to ``points.expiring``: the same
replay-then-live stream, resumable with the last alert's ``id``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import strawberry

from app.auth.principal import PrincipalKind
from app.errors import DomainError, ErrorCode
from app.events.broadcast import SlowSubscriber
from app.events.outbox import member_topic
from app.events.stream import StoredEvent, follow
from app.graphql.context import Info
from app.graphql.errors import MutationError, refusal_as_payload
from app.graphql.fields import described_field, described_mutation, described_subscription
from app.graphql.ledger import BalanceNode, balance_after_write
from app.graphql.pagination import PageInfo, decode_cursor, encode_cursor, page_size, parse_id
from app.graphql.subscriptions import SlowConsumerError, _parse_after, hub_of
from app.ledger.expiry import programme_policy
from app.lifecycle import exchange, gifting
from app.lifecycle import notifications as notes
from app.lifecycle.exchange import Direction
from app.lifecycle.gifting import Gift
from app.lifecycle.reminders import KIND as EXPIRING

EXPIRY_ALERTS = "expiryAlerts"
NOTIFICATIONS = "notifications"
MARK_READ = "markNotificationsRead"
GIFT = "giftPoints"
PARTNERS = "exchangePartners"
SAVE_PARTNER = "saveExchangePartner"
EXCHANGE = "exchangePoints"
POLICY = "lifecyclePolicy"
KEY_HELP = "Unique per caller: a replay returns the first result and never gives twice."


@strawberry.type(name="ExpiryAlert", description="Points about to expire (a reminder, live).")
class ExpiryAlertNode:
    event: strawberry.Private[StoredEvent]

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
        )


@strawberry.type
class NotificationEdge:
    cursor: str
    node: NotificationNode


@strawberry.type
class NotificationConnection:
    edges: list[NotificationEdge]
    page_info: PageInfo
    unread_count: int


@strawberry.input
class MarkNotificationsReadInput:
    member_id: strawberry.ID
    ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="The notifications to mark read; all the member's when null."
    )


@strawberry.type
class NotificationsMarked:
    marked: int
    unread_count: int


MarkReadResult = Annotated[
    NotificationsMarked | MutationError, strawberry.union("MarkNotificationsReadResult")
]


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


@strawberry.input
class GiftPointsInput:
    from_member_id: strawberry.ID
    to_member_id: strawberry.ID
    amount: int
    idempotency_key: str = strawberry.field(description=KEY_HELP)
    message: str | None = None


@strawberry.type
class GiftPayload:
    gift: GiftNode
    balance: BalanceNode = strawberry.field(description="The giver's balance after the gift.")


GiftPointsResult = Annotated[GiftPayload | MutationError, strawberry.union("GiftPointsResult")]


strawberry.enum(Direction, name="ExchangeDirection")


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


@strawberry.input
class ExchangePartnerInput:
    code: str
    name: str
    rate_in: Decimal
    rate_out: Decimal
    min_points: int
    max_points: int
    daily_limit: int
    enabled: bool = True


@strawberry.type
class ExchangePartnerPayload:
    partner: ExchangePartnerNode


SavePartnerResult = Annotated[
    ExchangePartnerPayload | MutationError, strawberry.union("SaveExchangePartnerResult")
]


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


@strawberry.input
class ExchangePointsInput:
    partner_code: str
    partner_ref: str = strawberry.field(
        description="The partner's own reference: a replay returns the first exchange."
    )
    member_id: strawberry.ID
    direction: Direction
    amount: int = strawberry.field(
        description="What is given up: partner points (IN) or our points (OUT)."
    )


@strawberry.type
class ExchangePayload:
    exchange: ExchangeNode
    balance: BalanceNode


ExchangeResult = Annotated[ExchangePayload | MutationError, strawberry.union("ExchangeResult")]


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


@strawberry.type
class LifecycleQueries:
    @described_field("The programme's expiry policy, reminder days and gift limits.")
    def lifecycle_policy(self, info: Info) -> LifecyclePolicyNode:
        info.context.require(POLICY)
        settings = info.context.runtime.settings
        policy = programme_policy(settings)
        return LifecyclePolicyNode(
            expiry_policy=policy.text,
            expiry_description=policy.describe(),
            reminder_days=sorted(set(settings.expiry_reminder_days), reverse=True),
            gift_max_points=settings.gift_max_points,
            gift_daily_limit=settings.gift_daily_limit,
            timezone=settings.timezone,
        )

    @described_field("The coalition partners, their rates and limits (staff).")
    async def exchange_partners(self, info: Info) -> list[ExchangePartnerNode]:
        info.context.require(PARTNERS)
        return [
            ExchangePartnerNode.of(p) for p in await exchange.list_partners(info.context.runtime)
        ]

    @described_field("A member's notifications, newest first (unread only on request).")
    async def notifications(
        self,
        info: Info,
        member_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
        unread_only: bool = False,
    ) -> NotificationConnection:
        ctx = info.context
        member = parse_id(str(member_id), "memberId")
        await ctx.readable_member(NOTIFICATIONS, member)
        size = page_size(first, ctx.runtime.settings.page_size_cap)
        before = decode_cursor("notification", after)
        rows = await notes.list_notifications(
            ctx.runtime, member, first=size + 1, before_id=before, unread_only=unread_only
        )
        page = rows[:size]
        edges = [
            NotificationEdge(
                cursor=encode_cursor("notification", n.id), node=NotificationNode.of(n)
            )
            for n in page
        ]
        return NotificationConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(rows) > size, end_cursor=edges[-1].cursor if edges else None
            ),
            unread_count=await notes.unread_count(ctx.runtime, member),
        )


@strawberry.type
class LifecycleMutations:
    @described_mutation("Mark a member's notifications read (some, or all).")
    async def mark_notifications_read(
        self, info: Info, input: MarkNotificationsReadInput
    ) -> MarkReadResult:
        ctx = info.context

        async def run() -> NotificationsMarked:
            ctx.require(MARK_READ)
            member = parse_id(str(input.member_id), "memberId")
            await ctx.readable_member(MARK_READ, member)
            ids = None if input.ids is None else [parse_id(str(i), "ids") for i in input.ids]
            marked, unread = await notes.mark_read(ctx.runtime, member, ids)
            return NotificationsMarked(marked=marked, unread_count=unread)

        return await refusal_as_payload(run)

    @described_mutation(
        "Give points to another member: limits per gift and per day; the points keep their expiry."
    )
    async def gift_points(self, info: Info, input: GiftPointsInput) -> GiftPointsResult:
        ctx = info.context

        async def run() -> GiftPayload:
            ctx.require(GIFT)
            sender = parse_id(str(input.from_member_id), "fromMemberId")
            recipient = parse_id(str(input.to_member_id), "toMemberId")
            await ctx.require_on_member(GIFT, sender)
            gift = await gifting.gift_points(
                ctx.runtime,
                ctx.principal.to_actor(),
                from_member_id=sender,
                to_member_id=recipient,
                amount=input.amount,
                idempotency_key=input.idempotency_key,
                message=input.message,
            )
            balance = await balance_after_write(ctx, sender)
            return GiftPayload(gift=GiftNode.of(gift), balance=balance)

        return await refusal_as_payload(run)

    @described_mutation("Create or change a coalition partner (by code), with its account.")
    async def save_exchange_partner(
        self, info: Info, input: ExchangePartnerInput
    ) -> SavePartnerResult:
        ctx = info.context

        async def run() -> ExchangePartnerPayload:
            ctx.require(SAVE_PARTNER)
            terms = exchange.PartnerTerms(
                code=input.code,
                name=input.name,
                rate_in=input.rate_in,
                rate_out=input.rate_out,
                min_points=input.min_points,
                max_points=input.max_points,
                daily_limit=input.daily_limit,
                enabled=input.enabled,
            )
            saved = await exchange.save_partner(ctx.runtime, ctx.principal.to_actor(), terms)
            return ExchangePartnerPayload(partner=ExchangePartnerNode.of(saved))

        return await refusal_as_payload(run)

    @described_mutation(
        "Convert points with a coalition partner, in or out, idempotent on the partner's ref."
    )
    async def exchange_points(self, info: Info, input: ExchangePointsInput) -> ExchangeResult:
        ctx = info.context

        async def run() -> ExchangePayload:
            ctx.require(EXCHANGE)
            member = parse_id(str(input.member_id), "memberId")
            await ctx.require_on_member(EXCHANGE, member)
            principal = ctx.principal
            if principal.kind is PrincipalKind.PARTNER and principal.channel != input.partner_code:
                raise DomainError(
                    ErrorCode.FORBIDDEN, "a partner exchanges only under its own code"
                )
            done = await exchange.exchange_points(
                ctx.runtime,
                principal.to_actor(),
                partner_code=input.partner_code,
                partner_ref=input.partner_ref,
                direction=input.direction,
                member_id=member,
                amount=input.amount,
            )
            balance = await balance_after_write(ctx, member)
            return ExchangePayload(exchange=ExchangeNode.of(done), balance=balance)

        return await refusal_as_payload(run)


@strawberry.type
class LifecycleSubscriptions:
    @described_subscription(
        "A member's expiry reminders: those after `after` first, then live as the job sends them."
    )
    async def expiry_alerts(
        self, info: Info, member_id: strawberry.ID, after: strawberry.ID | None = None
    ) -> AsyncGenerator[ExpiryAlertNode, None]:
        ctx = info.context
        member = parse_id(str(member_id), "memberId")
        last = _parse_after(after)
        ctx.renew_loaders()
        await ctx.readable_member(EXPIRY_ALERTS, member)
        try:
            async for event in follow(ctx.runtime.engine, hub_of(ctx), member_topic(member), last):
                last = event.id
                if event.type == EXPIRING:
                    yield ExpiryAlertNode(event=event)
        except SlowSubscriber:
            raise SlowConsumerError(last) from None
