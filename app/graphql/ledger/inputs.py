"""The inputs of the mutations that move points: each carries an ``idempotencyKey``."""

from __future__ import annotations

from datetime import datetime

import strawberry

KEY_HELP = "Unique per caller; a retry with the same key returns the first result."


@strawberry.input
class EarnPointsInput:
    member_id: strawberry.ID
    amount: int = strawberry.field(description="Positive, at most the per-operation maximum.")
    reason: str
    idempotency_key: str = strawberry.field(description=KEY_HELP)
    reference: str | None = None
    available_at: datetime | None = strawberry.field(
        default=None, description="When the points become spendable (pending until then)."
    )
    expires_at: datetime | None = strawberry.field(
        default=None, description="Defaults to the programme's expiry policy."
    )


@strawberry.input
class EarnPointsBatchInput:
    items: list[EarnPointsInput] = strawberry.field(
        description="The earns, each as earnPoints takes it (its own idempotencyKey); 1 to "
        "JIFEN_EARN_POINTS_BATCH_MAX (500)."
    )


@strawberry.input
class SpendPointsInput:
    member_id: strawberry.ID
    amount: int
    reason: str
    idempotency_key: str = strawberry.field(description=KEY_HELP)
    reference: str | None = None


@strawberry.input
class HoldPointsInput:
    member_id: strawberry.ID
    amount: int
    reason: str
    idempotency_key: str = strawberry.field(description=KEY_HELP)
    reference: str | None = None
    expires_at: datetime | None = strawberry.field(
        default=None, description="When an uncommitted hold is voided by itself."
    )


@strawberry.input
class CommitHoldInput:
    hold_id: strawberry.ID
    idempotency_key: str = strawberry.field(description=KEY_HELP)


@strawberry.input
class VoidHoldInput:
    hold_id: strawberry.ID
    reason: str
    idempotency_key: str = strawberry.field(description=KEY_HELP)


@strawberry.input
class ReverseEntryInput:
    entry_id: strawberry.ID
    reason: str
    idempotency_key: str = strawberry.field(description=KEY_HELP)
    amount: int | None = strawberry.field(
        default=None, description="Part of the entry to reverse; the rest of it when omitted."
    )


@strawberry.input
class AdjustPointsInput:
    member_id: strawberry.ID
    amount: int = strawberry.field(description="Signed: positive credits, negative debits.")
    reason: str
    idempotency_key: str = strawberry.field(description=KEY_HELP)
