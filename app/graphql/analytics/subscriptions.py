"""Anomaly alerts, live, for staff (docs/ANALYTICS.md, "Anomaly alerts")."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from app.analytics.alerts import TOPIC
from app.events.broadcast import SlowSubscriber
from app.events.stream import StoredEvent, follow
from app.graphql.core.context import Info
from app.graphql.core.fields import described_field, described_subscription
from app.graphql.core.subscriptions import SlowConsumerError, hub_of, parse_after

PROGRAMME_ALERTS = "programmeAlerts"


@strawberry.type(name="ProgrammeAlert", description="An anomaly the alert detector found.")
class ProgrammeAlertNode:
    event: strawberry.Private[StoredEvent]

    @described_field("Increasing: resume with `after: id`.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.event.id))

    @described_field(
        "alert.redemption_surge, alert.member_over_earning, alert.credential_failures or "
        "alert.budget_nearly_spent."
    )
    def type(self) -> str:
        return self.event.type

    @described_field("What it is about: item:<code>, member:<id>, rule:<id>…")
    def subject(self) -> str:
        return str(self.event.payload.get("subject", ""))

    @strawberry.field
    def created_at(self) -> datetime:
        return self.event.created_at

    @described_field("The figures behind it (keys in snake_case).")
    def payload(self) -> JSON:
        payload: Any = self.event.payload
        return payload  # type: ignore[no-any-return]


@strawberry.type
class AnalyticsSubscriptions:
    @described_subscription("Anomaly alerts: those after `after` first, then live (staff).")
    async def programme_alerts(
        self, info: Info, after: strawberry.ID | None = None
    ) -> AsyncGenerator[ProgrammeAlertNode, None]:
        ctx = info.context
        ctx.require(PROGRAMME_ALERTS)
        last = parse_after(after)
        try:
            async for event in follow(
                ctx.runtime.engine, hub_of(ctx), TOPIC, last, ctx.runtime.replicas
            ):
                last = event.id
                yield ProgrammeAlertNode(event=event)
        except SlowSubscriber:
            raise SlowConsumerError(last) from None
