"""Experiments' use cases, one unit of work each (what GraphQL and the tests call)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import retry_on_lost_connection, unit_of_work
from app.earning.store import EarningStore
from app.experiments.models import Experiment, ExperimentDraft
from app.experiments.results import VariantResult, variant_results
from app.experiments.service import ExperimentBook
from app.ledger.models import Actor
from app.runtime import Runtime
from app.valuation.policy import plain
from app.valuation.queries import point_value_history


def _book(rt: Runtime, conn: AsyncConnection) -> ExperimentBook:
    return ExperimentBook(conn, EarningStore(conn, rt.clock, rt.settings).rulebook)


async def create_experiment(rt: Runtime, actor: Actor, draft: ExperimentDraft) -> Experiment:
    async with unit_of_work(rt.engine) as conn:
        return await _book(rt, conn).create(draft, actor)


async def update_experiment(rt: Runtime, actor: Actor, draft: ExperimentDraft) -> Experiment:
    async with unit_of_work(rt.engine) as conn:
        return await _book(rt, conn).update(draft, actor)


async def start_experiment(rt: Runtime, actor: Actor, code: str) -> Experiment:
    async with unit_of_work(rt.engine) as conn:
        return await _book(rt, conn).start(code, actor)


async def stop_experiment(rt: Runtime, actor: Actor, code: str) -> Experiment:
    async with unit_of_work(rt.engine) as conn:
        return await _book(rt, conn).stop(code, actor)


async def roll_out_experiment(rt: Runtime, actor: Actor, code: str, variant: str) -> Experiment:
    async with unit_of_work(rt.engine) as conn:
        return await _book(rt, conn).roll_out(code, variant, actor)


@retry_on_lost_connection
async def get_experiment(rt: Runtime, code: str) -> Experiment:
    async with rt.read() as conn:
        return await _book(rt, conn).get(code)


@retry_on_lost_connection
async def list_experiments(rt: Runtime) -> list[Experiment]:
    async with rt.read() as conn:
        return await _book(rt, conn).find()


@dataclass(frozen=True)
class Results:
    experiment: Experiment
    until: datetime  # the experiment's end, or now
    variants: list[VariantResult]


@retry_on_lost_connection
async def experiment_results(rt: Runtime, code: str) -> Results:
    """Per variant, from each member's assignment to the experiment's end (or now)."""
    async with rt.read() as conn:
        experiment = await _book(rt, conn).get(code)
        until = experiment.ended_at or rt.clock.now()
        variants = await variant_results(
            conn,
            experiment.id,
            until=until,
            timezone=rt.settings.timezone,
            values=await point_value_history(conn),
            default_value=plain(Decimal(rt.settings.point_value_cny)),
        )
        return Results(experiment, until, variants)
