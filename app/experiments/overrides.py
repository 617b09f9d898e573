"""A variant's task rewards and mall prices: the points a member in variant B is paid for a task
or pays for an item (app/earning/hooks.py, POINTS_OVERRIDES; docs/EXPERIMENTS.md).

The running experiments that override something are cached per process with the experiments
table's generation, which the caller reads in a statement it runs anyway (a task's progress
read, the mall's item read): every definition, start or stop writes the experiment's row, so
the generation moves with it on every replica. With no such experiment running, deciding a
reward or a price costs no statement; with one overriding this task or item, one statement
reads the member's channel and assignments (and a first exposure adds its insert), the same as
earning's rule chooser (app/experiments/chooser.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.configcache import GenerationCache, generation_of
from app.earning.hooks import PointsChoice, PointsOverride
from app.experiments.chooser import ASSIGNMENT_COLUMNS, WITH_VARIANTS, assignments_of
from app.experiments.policy import ExperimentPlan, Plans, Status, VariantPlan
from app.experiments.tables import experiment_variant_overrides, experiment_variants, experiments


@dataclass(frozen=True)
class OverridePlan:
    """One running experiment with overrides: per variant id, (kind, code) → points."""

    experiment: ExperimentPlan
    points: dict[int, dict[tuple[str, str], int]]

    def overrides(self, kind: str, code: str) -> bool:
        return any((kind, code) in by_variant for by_variant in self.points.values())


OVERRIDE_PLANS: GenerationCache[tuple[OverridePlan, ...]] = GenerationCache()

_RUNNING = (
    select(
        *ASSIGNMENT_COLUMNS,
        experiment_variant_overrides.c.kind,
        experiment_variant_overrides.c.code.label("override_code"),
        experiment_variant_overrides.c.points,
    )
    .select_from(
        WITH_VARIANTS.outerjoin(
            experiment_variant_overrides,
            experiment_variant_overrides.c.variant_id == experiment_variants.c.id,
        )
    )
    .where(experiments.c.status == Status.RUNNING.value)
    .order_by(experiments.c.id, experiment_variants.c.position)
)


def generation() -> Any:
    return generation_of(experiments)


async def _plans(conn: AsyncConnection, generation: str | None) -> tuple[OverridePlan, ...]:
    cached = OVERRIDE_PLANS.get(generation)
    if cached is not None:
        return cached
    heads: dict[int, Any] = {}
    variants: dict[int, dict[int, VariantPlan]] = defaultdict(dict)
    points: dict[int, dict[int, dict[tuple[str, str], int]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for row in await conn.execute(_RUNNING):
        heads.setdefault(row.id, row)
        variants[row.id].setdefault(
            row.variant_id,
            VariantPlan(row.variant_id, row.variant_code, Decimal(row.weight), frozenset()),
        )
        if row.kind is not None:
            points[row.id][row.variant_id][(row.kind, row.override_code)] = int(row.points)
    plans = tuple(
        OverridePlan(
            ExperimentPlan(
                id=head.id,
                code=head.code,
                running=True,
                variants=tuple(variants[head.id].values()),
                replaces=frozenset(),
                channels=None if head.channels is None else frozenset(head.channels),
                segments=None if head.segments is None else frozenset(head.segments),
            ),
            dict(points[head.id]),
        )
        for head in heads.values()
        if points[head.id]
    )
    return plans if generation is None else OVERRIDE_PLANS.put(generation, plans)


async def choose_points(conn: AsyncConnection, choice: PointsChoice) -> PointsOverride:
    """The member's variant's points for this task or item, else the programme's. A member is
    assigned here (its exposure, when ``choice.assign``) only by an experiment that overrides
    this very task or item; the first such experiment (oldest) that has the member in a variant
    overriding it decides."""
    relevant = [
        p for p in await _plans(conn, choice.generation) if p.overrides(choice.kind, choice.code)
    ]
    if not relevant:
        return PointsOverride(choice.programme)
    assigned = await assignments_of(
        conn,
        choice.member_id,
        Plans(tuple(p.experiment for p in relevant)),
        segment=choice.segment,
        now=choice.now,
        assign=choice.assign,
    )
    for plan in relevant:
        variant_id = assigned.get(plan.experiment.id)
        if variant_id is None:
            continue
        points = plan.points.get(variant_id, {}).get((choice.kind, choice.code))
        if points is not None:
            variant = next(v for v in plan.experiment.variants if v.id == variant_id)
            return PointsOverride(points, f"{plan.experiment.code}:{variant.code}")
    return PointsOverride(choice.programme)
