"""createExperiment (docs/EXPERIMENTS.md)."""

from __future__ import annotations

from app.experiments import usecases
from app.graphql.core.mutations import Call, mutation
from app.graphql.experiments.inputs import ExperimentInput
from app.graphql.experiments.types import ExperimentNode, ExperimentPayload


@mutation("Define an experiment (a draft): its variants, their weights and earning rules.")
async def create_experiment(call: Call, input: ExperimentInput) -> ExperimentPayload:
    experiment = await usecases.create_experiment(call.runtime, call.actor, input.draft())
    return ExperimentPayload(experiment=ExperimentNode.of(experiment))
