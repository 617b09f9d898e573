"""rollOutExperiment (docs/EXPERIMENTS.md)."""

from __future__ import annotations

from app.experiments import usecases
from app.graphql.core.mutations import Call, mutation
from app.graphql.experiments.inputs import RollOutExperimentInput
from app.graphql.experiments.types import ExperimentNode, ExperimentPayload


@mutation("Make a variant's rules the programme's for every member, ending the experiment.")
async def roll_out_experiment(call: Call, input: RollOutExperimentInput) -> ExperimentPayload:
    experiment = await usecases.roll_out_experiment(
        call.runtime, call.actor, input.code, input.variant
    )
    return ExperimentPayload(experiment=ExperimentNode.of(experiment))
