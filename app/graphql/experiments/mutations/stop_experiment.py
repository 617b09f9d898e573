"""stopExperiment (docs/EXPERIMENTS.md)."""

from __future__ import annotations

from app.experiments import usecases
from app.graphql.core.mutations import Call, mutation
from app.graphql.experiments.inputs import ExperimentCodeInput
from app.graphql.experiments.types import ExperimentNode, ExperimentPayload


@mutation("Stop an experiment: its variants' rules stop; every point earned stays.")
async def stop_experiment(call: Call, input: ExperimentCodeInput) -> ExperimentPayload:
    experiment = await usecases.stop_experiment(call.runtime, call.actor, input.code)
    return ExperimentPayload(experiment=ExperimentNode.of(experiment))
