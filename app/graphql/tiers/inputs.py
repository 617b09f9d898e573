"""The tier definition a staff member saves."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from app.graphql.tiers.enums import TaskMeasure
from app.tiers.policy import TierDef, TierTask


@strawberry.input
class TierTaskInput:
    measure: TaskMeasure
    target: Decimal

    def task(self) -> TierTask:
        return TierTask(self.measure, self.target)


@strawberry.input(description="A whole tier definition: created when the code is new.")
class SaveTierDefinitionInput:
    code: str
    name: str
    rank: int
    threshold: Decimal = strawberry.field(description="CNY, at most two decimals.")
    multiplier: Decimal = strawberry.field(description="Above 0, at most 10, four decimals.")
    benefits: list[str] = strawberry.field(default_factory=list)
    keep_task: TierTaskInput | None = None
    upgrade_tasks: list[TierTaskInput] = strawberry.field(default_factory=list)
    expected_version: int | None = strawberry.field(
        default=None, description="Refused when the tier changed since (optimistic check)."
    )

    def definition(self) -> TierDef:
        return TierDef(
            code=self.code,
            name=self.name,
            rank=self.rank,
            threshold=self.threshold,
            multiplier=self.multiplier,
            benefits=tuple(self.benefits),
            keep_task=None if self.keep_task is None else self.keep_task.task(),
            upgrade_tasks=tuple(t.task() for t in self.upgrade_tasks),
        )
