"""Defining an experiment: its variants with their weights and earning rules."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from app.experiments.models import ExperimentDraft, VariantDraft
from app.graphql.core.inputs import parse_id
from app.graphql.earning.inputs import EarningRuleInput, rule_spec_of
from app.graphql.segments.enums import Segment


@strawberry.input(description="A task's reward points for one variant's members.")
class VariantTaskRewardInput:
    task: str = strawberry.field(description="The task's code.")
    points: Decimal = strawberry.field(description="A whole number of points, 0 or more.")


@strawberry.input(description="A mall item's points price for one variant's members.")
class VariantItemPriceInput:
    item: str = strawberry.field(description="The item's code.")
    points: Decimal = strawberry.field(description="A whole number of points, 1 or more.")


@strawberry.input(
    description="A variant: its share of the members and its own earning rules, task rewards "
    "and mall prices."
)
class ExperimentVariantInput:
    code: str = strawberry.field(
        description="Unique within the experiment; the first variant is the control."
    )
    name: str
    weight: Decimal = strawberry.field(
        description="Its share of the members is weight / the sum of the weights: a positive "
        "number up to 10000 with at most four decimals."
    )
    rules: list[EarningRuleInput] = strawberry.field(
        default_factory=list,
        description="Earning rules only this variant's members earn by (e.g. a multiplier).",
    )
    task_rewards: list[VariantTaskRewardInput] = strawberry.field(
        default_factory=list,
        description="The points these tasks pay this variant's members (instead of the "
        "programme's).",
    )
    item_prices: list[VariantItemPriceInput] = strawberry.field(
        default_factory=list,
        description="The points prices this variant's members see and pay for these mall items.",
    )


@strawberry.input
class ExperimentInput:
    code: str = strawberry.field(description="Names the experiment and salts its assignment.")
    name: str
    variants: list[ExperimentVariantInput] = strawberry.field(description="2 to 10.")
    replaces: list[strawberry.ID] = strawberry.field(
        default_factory=list,
        description="Programme earning rules the experiment's members do without (each "
        "variant brings its own version).",
    )
    channels: list[str] | None = strawberry.field(
        default=None, description="Only members registered through one of these channels."
    )
    segments: list[Segment] | None = strawberry.field(
        default=None, description="Only members in one of these RFM segments when first seen."
    )

    def draft(self) -> ExperimentDraft:
        return ExperimentDraft(
            code=self.code,
            name=self.name,
            variants=[
                VariantDraft(
                    v.code,
                    v.name,
                    v.weight,
                    [rule_spec_of(r) for r in v.rules],
                    task_rewards=[(t.task, t.points) for t in v.task_rewards],
                    item_prices=[(i.item, i.points) for i in v.item_prices],
                )
                for v in self.variants
            ],
            replaces=[parse_id(str(r), "replaces") for r in self.replaces],
            channels=self.channels,
            segments=None if self.segments is None else [s.value for s in self.segments],
        )


@strawberry.input
class ExperimentCodeInput:
    code: str


@strawberry.input
class RollOutExperimentInput:
    code: str
    variant: str = strawberry.field(description="The winning variant's code.")
