"""The lifecycle mutations' inputs."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import strawberry

from app.graphql.lifecycle.enums import Direction, MoveKind, SpendKind

KEY_HELP = "Unique per caller: a replay returns the first result and never gives twice."


@strawberry.input
class MarkNotificationsReadInput:
    member_id: strawberry.ID
    ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="The notifications to mark read; all the member's when null."
    )


@strawberry.input
class GiftPointsInput:
    from_member_id: strawberry.ID
    to_member_id: strawberry.ID
    amount: int
    idempotency_key: str = strawberry.field(description=KEY_HELP)
    message: str | None = None


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


@strawberry.input(
    description="Move the points that expire by validThrough (the expiry reminder's day) into a "
    "donation or lottery tickets before they go (docs/BANK.md)."
)
class MoveExpiringPointsInput:
    member_id: strawberry.ID
    valid_through: date
    to: MoveKind
    idempotency_key: str = strawberry.field(description=KEY_HELP)
    charity_code: str | None = strawberry.field(default=None, description="For DONATION.")
    pool_code: str | None = strawberry.field(default=None, description="For LOTTERY.")


@strawberry.input(
    description="Spend the points bank's pool: CHARITY_MATCH names a charity, PRIZE a member."
)
class SpendBankPoolInput:
    kind: SpendKind
    points: int
    reason: str
    idempotency_key: str = strawberry.field(description=KEY_HELP)
    charity_code: str | None = None
    member_id: strawberry.ID | None = None
