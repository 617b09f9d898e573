"""Changing the programme's point value."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry
from strawberry import ID


@strawberry.input
class SetPointValueInput:
    value: Decimal = strawberry.field(description="CNY per point, > 0, six decimals at most.")
    reason: str
    effective_from: datetime | None = strawberry.field(
        default=None, description="When it takes effect (default now)."
    )


@strawberry.input
class AcknowledgeAlertInput:
    id: ID = strawberry.field(description="The alert (anomalyAlerts' id).")
    note: str | None = strawberry.field(default=None, description="What was found (≤ 500).")
