"""The experiments mutations; experiments' share of the Mutation type."""

from __future__ import annotations

import strawberry

from app.graphql.experiments.mutations.create_experiment import create_experiment
from app.graphql.experiments.mutations.roll_out_experiment import roll_out_experiment
from app.graphql.experiments.mutations.start_experiment import start_experiment
from app.graphql.experiments.mutations.stop_experiment import stop_experiment
from app.graphql.experiments.mutations.update_experiment import update_experiment


@strawberry.type
class ExperimentMutations:
    create_experiment = create_experiment
    update_experiment = update_experiment
    start_experiment = start_experiment
    stop_experiment = stop_experiment
    roll_out_experiment = roll_out_experiment
