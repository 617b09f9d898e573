"""updateExperiment (docs/EXPERIMENTS.md)."""

from __future__ import annotations

from app.experiments import usecases
from app.graphql.core.mutations import Call, mutation
from app.graphql.experiments.inputs import ExperimentInput
from app.graphql.experiments.types import ExperimentNode, ExperimentPayload


@mutation("Change a draft experiment's definition (refused once it has started).")
async def update_experiment(call: Call, input: ExperimentInput) -> ExperimentPayload:
    experiment = await usecases.update_experiment(call.runtime, call.actor, input.draft())
    return ExperimentPayload(experiment=ExperimentNode.of(experiment))
