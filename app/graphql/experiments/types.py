"""Experiments and their results as staff read them (docs/EXPERIMENTS.md)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from app.experiments.models import Experiment, Variant
from app.experiments.results import Interval, VariantResult
from app.graphql.core.fields import node_id


@strawberry.type(description="A task's reward or an item's price for one variant's members.")
class VariantPoints:
    code: str = strawberry.field(description="The task's or the item's code.")
    points: int


@strawberry.type(name="ExperimentVariant")
class ExperimentVariantNode:
    code: str
    name: str
    weight: Decimal
    rule_ids: list[strawberry.ID] = strawberry.field(description="Its earning rules.")
    members: int = strawberry.field(description="Members assigned to it so far.")
    task_rewards: list[VariantPoints] = strawberry.field(
        description="The points tasks pay its members, by task code."
    )
    item_prices: list[VariantPoints] = strawberry.field(
        description="The points prices its members pay for mall items, by item code."
    )

    @classmethod
    def of(cls, variant: Variant) -> ExperimentVariantNode:
        return cls(
            code=variant.code,
            name=variant.name,
            weight=variant.weight,
            rule_ids=[node_id(r) for r in variant.rule_ids],
            members=variant.members,
            task_rewards=[
                VariantPoints(code=c, points=p) for c, p in sorted(variant.task_rewards.items())
            ],
            item_prices=[
                VariantPoints(code=c, points=p) for c, p in sorted(variant.item_prices.items())
            ],
        )


@strawberry.type(name="Experiment")
class ExperimentNode:
    code: str
    name: str
    status: str = strawberry.field(description="draft, running, stopped or rolled_out.")
    variants: list[ExperimentVariantNode]
    replaces: list[strawberry.ID]
    channels: list[str] | None
    segments: list[str] | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None = strawberry.field(description="Stopped or rolled out.")
    ended_by: str | None
    winner: str | None = strawberry.field(description="The variant rolled out.")

    @classmethod
    def of(cls, experiment: Experiment) -> ExperimentNode:
        return cls(
            code=experiment.code,
            name=experiment.name,
            status=experiment.status.value,
            variants=[ExperimentVariantNode.of(v) for v in experiment.variants],
            replaces=[node_id(r) for r in experiment.replaces],
            channels=None if experiment.channels is None else list(experiment.channels),
            segments=None if experiment.segments is None else list(experiment.segments),
            created_by=experiment.created_by,
            created_at=experiment.created_at,
            started_at=experiment.started_at,
            ended_at=experiment.ended_at,
            ended_by=experiment.ended_by,
            winner=experiment.winner,
        )


@strawberry.type(name="ConfidenceInterval")
class IntervalNode:
    estimate: float | None
    low: float | None = strawberry.field(description="None: too few members.")
    high: float | None
    confidence: float

    @classmethod
    def of(cls, interval: Interval) -> IntervalNode:
        return cls(
            estimate=interval.estimate,
            low=interval.low,
            high=interval.high,
            confidence=interval.confidence,
        )


@strawberry.type(name="ExperimentComparison")
class ComparisonNode:
    issued_p_value: float | None = strawberry.field(
        description="Welch's t-test on points issued per member (two-sided)."
    )
    sales_p_value: float | None = strawberry.field(
        description="Welch's t-test on sales per member (two-sided)."
    )
    retention_p_value: float | None = strawberry.field(
        description="Fisher's exact test on members retained (two-sided)."
    )


@strawberry.type(name="ExperimentVariantResult")
class VariantResultNode:
    code: str
    name: str
    members: int
    points_issued: int
    points_cost: Decimal = strawberry.field(
        description="CNY: each day's points at the point value in force that day."
    )
    points_redeemed: int
    redemption_rate: Decimal | None
    purchases: int
    sales: Decimal = strawberry.field(description="CNY, less refunds.")
    retained: int = strawberry.field(
        description="Members active on a business day after the day they were assigned."
    )
    retention_rate: Decimal | None
    issued_per_member: IntervalNode = strawberry.field(description="Mean, Student's t interval.")
    sales_per_member: IntervalNode = strawberry.field(description="Mean, Student's t interval.")
    retention: IntervalNode = strawberry.field(description="Wilson score interval.")
    versus_control: ComparisonNode | None = strawberry.field(
        description="Against the first variant (none for the control itself)."
    )

    @classmethod
    def of(cls, result: VariantResult) -> VariantResultNode:
        return cls(
            code=result.code,
            name=result.name,
            members=result.members,
            points_issued=result.points_issued,
            points_cost=result.points_cost,
            points_redeemed=result.points_redeemed,
            redemption_rate=result.redemption_rate,
            purchases=result.purchases,
            sales=result.sales,
            retained=result.retained,
            retention_rate=result.retention_rate,
            issued_per_member=IntervalNode.of(result.issued_per_member),
            sales_per_member=IntervalNode.of(result.sales_per_member),
            retention=IntervalNode.of(result.retention),
            versus_control=None
            if result.versus_control is None
            else ComparisonNode(
                issued_p_value=result.versus_control.issued_p_value,
                sales_p_value=result.versus_control.sales_p_value,
                retention_p_value=result.versus_control.retention_p_value,
            ),
        )


@strawberry.type(name="ExperimentResults")
class ResultsNode:
    experiment: ExperimentNode
    until: datetime = strawberry.field(description="The end of the experiment, or now.")
    variants: list[VariantResultNode]


@strawberry.type
class ExperimentPayload:
    experiment: ExperimentNode
