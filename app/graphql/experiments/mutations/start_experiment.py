"""startExperiment (docs/EXPERIMENTS.md)."""

from __future__ import annotations

from app.experiments import usecases
from app.graphql.core.mutations import Call, mutation
from app.graphql.experiments.inputs import ExperimentCodeInput
from app.graphql.experiments.types import ExperimentNode, ExperimentPayload


@mutation("Start assigning members and giving each its variant's rules (again: the same answer).")
async def start_experiment(call: Call, input: ExperimentCodeInput) -> ExperimentPayload:
    experiment = await usecases.start_experiment(call.runtime, call.actor, input.code)
    return ExperimentPayload(experiment=ExperimentNode.of(experiment))
