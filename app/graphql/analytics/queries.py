"""KPIs, the outlook, the weekly report and the point value's history (staff)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from app.analytics import alerts, usecases
from app.graphql.analytics.enums import AlertStatus, Granularity
from app.graphql.analytics.types import (
    AnomalyAlertNode,
    PointsOutlook,
    PointValueNode,
    ProgrammeKpis,
    WeeklyReportNode,
)
from app.graphql.core.context import Info
from app.graphql.core.fields import described_field
from app.graphql.core.inputs import parse_id
from app.valuation import usecases as valuation


@strawberry.type
class AnalyticsQueries:
    @described_field(
        "The programme's KPIs over business days [from, to], by day, week or month (chosen "
        "from the period's length when not given), overall or for one registration channel."
    )
    async def kpis(
        self,
        info: Info,
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date,
        granularity: Granularity | None = None,
        channel: str | None = None,
    ) -> ProgrammeKpis:
        info.context.require("kpis")
        found = await usecases.programme_kpis(
            info.context.runtime, from_, to, granularity=granularity, channel=channel
        )
        return ProgrammeKpis.of(found)

    @described_field("Pending points, members by tier, points due to expire in 12 months.")
    async def points_outlook(self, info: Info) -> PointsOutlook:
        info.context.require("pointsOutlook")
        return PointsOutlook.of(await usecases.programme_outlook(info.context.runtime))

    @described_field(
        "积分运营周报 of the week starting on Monday weekStart (default: last week) against "
        "the week before."
    )
    async def weekly_report(self, info: Info, week_start: date | None = None) -> WeeklyReportNode:
        info.context.require("weeklyReport")
        return WeeklyReportNode.of(await usecases.weekly_report(info.context.runtime, week_start))

    @described_field("Every change of the point value, oldest first.")
    async def point_values(self, info: Info) -> list[PointValueNode]:
        info.context.require("pointValues")
        changes = await valuation.point_value_changes(info.context.runtime)
        return [PointValueNode.of(c) for c in changes]

    @described_field(
        "The anomaly alerts fired, newest first: of one kind (e.g. alert.redemption_surge), "
        "open or acknowledged, older than the alert `before` (the next page); first ≤ 100."
    )
    async def anomaly_alerts(
        self,
        info: Info,
        kind: str | None = None,
        status: AlertStatus | None = None,
        before: strawberry.ID | None = None,
        first: int = 50,
    ) -> list[AnomalyAlertNode]:
        info.context.require("anomalyAlerts")
        found = await alerts.list_alerts(
            info.context.runtime,
            kind=kind,
            status=status,
            before=None if before is None else parse_id(str(before), "before"),
            first=first,
        )
        return [AnomalyAlertNode.of(a) for a in found]
