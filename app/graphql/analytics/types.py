"""KPIs, the outlook and the weekly report as staff read them (docs/ANALYTICS.md defines every
figure)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import cast

import strawberry
from strawberry.scalars import JSON

from app.analytics.alerts import FiredAlert
from app.analytics.kpis import BucketFigures, Flows, Kpis, RedeemedItem
from app.analytics.outlook import Outlook
from app.analytics.report import WeeklyReport
from app.graphql.analytics.enums import AlertStatus, Granularity
from app.valuation.policy import PointValue


@strawberry.type(description="Points of one source (issued) or one use (redeemed).")
class PointsByName:
    name: str
    points: int


@strawberry.type(description="The points and members that moved in a span of business days.")
class KpiFlows:
    issued: int = strawberry.field(description="Points given to members (gifts excluded).")
    issued_by_source: list[PointsByName]
    redeemed: int = strawberry.field(description="Points members used (gifts excluded).")
    redeemed_by_use: list[PointsByName]
    expired: int
    clawed_back: int = strawberry.field(description="Credits taken back (refunds, say).")
    returned: int = strawberry.field(description="Debits given back (returned orders, say).")
    adjusted_out: int
    new_members: int
    sign_ins: int
    sign_ins_by_streak: list[PointsByName] = strawberry.field(
        description="Sign-ins by the band of the streak they reached; points is the count."
    )
    mean_streak: Decimal | None

    @classmethod
    def of(cls, flows: Flows) -> KpiFlows:
        return cls(
            issued=flows.issued,
            issued_by_source=_named(flows.issued_by_source),
            redeemed=flows.redeemed,
            redeemed_by_use=_named(flows.redeemed_by_use),
            expired=flows.expired,
            clawed_back=flows.clawed_back,
            returned=flows.returned,
            adjusted_out=flows.adjusted_out,
            new_members=flows.new_members,
            sign_ins=flows.signins,
            sign_ins_by_streak=_named(flows.signins_by_streak),
            mean_streak=flows.mean_streak,
        )


def _named(values: dict[str, int]) -> list[PointsByName]:
    return [PointsByName(name=name, points=points) for name, points in values.items()]


@strawberry.type(description="One bucket (a business day, week or month) of a KPI period.")
class KpiBucket:
    start: date
    end: date = strawberry.field(description="Its last business day.")
    flows: KpiFlows
    outstanding: int = strawberry.field(description="Points members hold at its end.")
    members: int = strawberry.field(description="Members registered by its end.")
    active_members: int
    point_value: Decimal = strawberry.field(description="CNY per point in force at its end.")
    liability: Decimal = strawberry.field(description="outstanding times pointValue, in CNY.")

    @classmethod
    def of(cls, bucket: BucketFigures) -> KpiBucket:
        return cls(
            start=bucket.start,
            end=bucket.end,
            flows=KpiFlows.of(bucket.flows),
            outstanding=bucket.outstanding,
            members=bucket.members,
            active_members=bucket.active_members,
            point_value=bucket.point_value,
            liability=bucket.liability,
        )


@strawberry.type(description="The programme's KPIs for a period (docs/ANALYTICS.md).")
class ProgrammeKpis:
    start: date
    end: date
    granularity: Granularity
    channel: str | None
    buckets: list[KpiBucket]
    totals: KpiFlows
    opening_outstanding: int
    outstanding: int
    members: int
    liability: Decimal
    point_value: Decimal
    consumption_rate: Decimal | None = strawberry.field(
        description="积分消耗率: redeemed divided by issued in the period."
    )
    redemption_rate: Decimal | None
    breakage_rate: Decimal | None
    member_sales: Decimal
    points_cost: Decimal
    points_roi: Decimal | None
    members_by_segment: list[PointsByName] = strawberry.field(
        description="Members per RFM segment as of the last segmentation run (not of the "
        "period); points is the count."
    )

    @classmethod
    def of(cls, kpis: Kpis) -> ProgrammeKpis:
        return cls(
            start=kpis.start,
            end=kpis.end,
            granularity=kpis.granularity,
            channel=kpis.channel,
            buckets=[KpiBucket.of(b) for b in kpis.buckets],
            totals=KpiFlows.of(kpis.totals),
            opening_outstanding=kpis.opening_outstanding,
            outstanding=kpis.outstanding,
            members=kpis.members,
            liability=kpis.liability,
            point_value=kpis.point_value,
            consumption_rate=kpis.consumption_rate,
            redemption_rate=kpis.redemption_rate,
            breakage_rate=kpis.breakage_rate,
            member_sales=kpis.member_sales,
            points_cost=kpis.points_cost,
            points_roi=kpis.points_roi,
            members_by_segment=_named(kpis.members_by_segment),
        )


@strawberry.type(description="Points due to expire in one business month.")
class ExpiringPoints:
    month: date
    points: int


@strawberry.type(
    description="The programme as it stood at asOf (the analytics-outlook job's last run)."
)
class PointsOutlook:
    as_of: datetime = strawberry.field(description="When these figures were computed.")
    pending: int = strawberry.field(description="Points inside their return window.")
    members_by_tier: list[PointsByName] = strawberry.field(
        description="Members per tier code; points is the count."
    )
    expiring: list[ExpiringPoints] = strawberry.field(
        description="asOf's month (from asOf) and the 11 after it."
    )
    point_value: Decimal = strawberry.field(description="CNY per point in force at asOf.")

    @classmethod
    def of(cls, outlook: Outlook) -> PointsOutlook:
        return cls(
            as_of=outlook.as_of,
            pending=outlook.pending,
            members_by_tier=_named(outlook.members_by_tier),
            expiring=[ExpiringPoints(month=m.month, points=m.points) for m in outlook.expiring],
            point_value=outlook.point_value,
        )


@strawberry.type(description="A mall item among the most redeemed.")
class RedeemedItemNode:
    code: str
    name: str
    quantity: int
    points: int

    @classmethod
    def of(cls, item: RedeemedItem) -> RedeemedItemNode:
        return cls(code=item.code, name=item.name, quantity=item.quantity, points=item.points)


@strawberry.type(name="WeeklyReport", description="积分运营周报: a week against the week before.")
class WeeklyReportNode:
    week_start: date
    top_redeemed_items: list[RedeemedItemNode]
    html: str = strawberry.field(description="The report as an HTML page, charts embedded.")
    csv: str = strawberry.field(description="figure, this_week, last_week, change.")

    @classmethod
    def of(cls, report: WeeklyReport) -> WeeklyReportNode:
        return cls(
            week_start=report.week_start,
            top_redeemed_items=[RedeemedItemNode.of(i) for i in report.top_items],
            html=report.html,
            csv=report.csv,
        )


@strawberry.type(name="PointValue", description="CNY per point, in force from a moment.")
class PointValueNode:
    value: Decimal
    effective_from: datetime | None

    @classmethod
    def of(cls, value: PointValue) -> PointValueNode:
        return cls(value=value.value, effective_from=value.effective_from)


@strawberry.type
class PointValueSet:
    point_value: PointValueNode


@strawberry.type(name="AnomalyAlert", description="An alert fired, open until acknowledged.")
class AnomalyAlertNode:
    id: strawberry.ID
    kind: str = strawberry.field(
        description="alert.redemption_surge, alert.member_over_earning, "
        "alert.credential_failures or alert.budget_nearly_spent."
    )
    subject: str = strawberry.field(description="What it is about: item:<code>, member:<id>…")
    payload: JSON = strawberry.field(description="The figures behind it (keys in snake_case).")
    fired_at: datetime
    status: AlertStatus
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledge_note: str | None

    @classmethod
    def of(cls, alert: FiredAlert) -> AnomalyAlertNode:
        return cls(
            id=strawberry.ID(str(alert.id)),
            kind=alert.kind,
            subject=alert.subject,
            payload=cast(JSON, alert.details),
            fired_at=alert.fired_at,
            status=alert.status,
            acknowledged_at=alert.acknowledged_at,
            acknowledged_by=alert.acknowledged_by,
            acknowledge_note=alert.acknowledge_note,
        )


@strawberry.type
class AlertAcknowledged:
    alert: AnomalyAlertNode
