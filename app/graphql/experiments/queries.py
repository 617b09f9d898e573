"""Experiments and their results (staff)."""

from __future__ import annotations

import strawberry

from app.experiments import usecases
from app.graphql.core.context import Info
from app.graphql.core.fields import described_field
from app.graphql.experiments.types import ExperimentNode, ResultsNode, VariantResultNode


@strawberry.type
class ExperimentQueries:
    @described_field("Every experiment, newest first.")
    async def experiments(self, info: Info) -> list[ExperimentNode]:
        info.context.require("experiments")
        return [ExperimentNode.of(e) for e in await usecases.list_experiments(info.context.runtime)]

    @described_field("An experiment by its code.")
    async def experiment(self, info: Info, code: str) -> ExperimentNode:
        info.context.require("experiment")
        return ExperimentNode.of(await usecases.get_experiment(info.context.runtime, code))

    @described_field(
        "An experiment's results per variant, from each member's assignment to its end (or "
        "now), with 95% confidence intervals."
    )
    async def experiment_results(self, info: Info, code: str) -> ResultsNode:
        info.context.require("experimentResults")
        found = await usecases.experiment_results(info.context.runtime, code)
        return ResultsNode(
            experiment=ExperimentNode.of(found.experiment),
            until=found.until,
            variants=[VariantResultNode.of(v) for v in found.variants],
        )
