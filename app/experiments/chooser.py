"""Earning's rule chooser for experiments: assigns a member on its first purchase or event while
an experiment runs, and gives it its variant's rules (app/earning/hooks.py, RULE_CHOOSERS).

What experiments exist is cached per process with the earning rules' generation: starting,
stopping or rolling out an experiment enables or disables its variants' rules in the same
transaction, so the generation moves with it, on every replica, at the next purchase. With no
experiment running, a purchase pays no round trip for experiments; with one running, one
statement reads the member's channel and assignments, and a member's first exposure adds the
insert of its assignment.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.configcache import GenerationCache
from app.earning.hooks import RuleChoice
from app.earning.rulebook import ENABLED_RULES
from app.earning.rules import Rule
from app.errors import DomainError, ErrorCode
from app.experiments.policy import ExperimentPlan, Plans, Status, VariantPlan, member_rules
from app.experiments.tables import (
    experiment_assignments,
    experiment_variant_rules,
    experiment_variants,
    experiments,
)
from app.members.tables import member_channel_refs

PLANS: GenerationCache[Plans] = GenerationCache()

# What assigning a member needs of an experiment and its variants (also read by the task
# rewards' and prices' plans, app/experiments/overrides.py).
ASSIGNMENT_COLUMNS = (
    experiments.c.id,
    experiments.c.code,
    experiments.c.status,
    experiments.c.channels,
    experiments.c.segments,
    experiment_variants.c.id.label("variant_id"),
    experiment_variants.c.code.label("variant_code"),
    experiment_variants.c.weight,
)
WITH_VARIANTS = experiments.join(
    experiment_variants, experiment_variants.c.experiment_id == experiments.c.id
)

_PLANS = (
    select(
        *ASSIGNMENT_COLUMNS,
        experiments.c.replaces,
        func.array_remove(func.array_agg(experiment_variant_rules.c.rule_id), None).label(
            "rule_ids"
        ),
    )
    .select_from(
        WITH_VARIANTS.outerjoin(
            experiment_variant_rules,
            experiment_variant_rules.c.variant_id == experiment_variants.c.id,
        )
    )
    .where(experiments.c.status != Status.ROLLED_OUT.value)
    .group_by(experiments.c.id, experiment_variants.c.id)
    .order_by(experiments.c.id, experiment_variants.c.position)
)


def _member_query() -> Any:
    member_id = bindparam("member_id", type_=BigInteger)
    channel = (
        select(member_channel_refs.c.channel)
        .where(member_channel_refs.c.member_id == member_id)
        .order_by(member_channel_refs.c.created_at, member_channel_refs.c.channel)
        .limit(1)
    )
    assigned = select(
        func.json_object_agg(
            experiment_assignments.c.experiment_id, experiment_assignments.c.variant_id
        )
    ).where(
        experiment_assignments.c.member_id == member_id,
        experiment_assignments.c.experiment_id.in_(bindparam("ids", expanding=True)),
    )
    return select(
        channel.scalar_subquery().label("channel"), assigned.scalar_subquery().label("assigned")
    )


_MEMBER = _member_query()


async def load_plans(conn: AsyncConnection, generation: str | None) -> Plans:
    """Every experiment not rolled out (from the cache when ``generation`` is its own)."""
    cached = PLANS.get(generation)
    if cached is not None:
        return cached
    variants: dict[int, list[VariantPlan]] = defaultdict(list)
    heads: dict[int, Any] = {}
    for row in await conn.execute(_PLANS):
        heads.setdefault(row.id, row)
        variants[row.id].append(
            VariantPlan(
                row.variant_id, row.variant_code, Decimal(row.weight), frozenset(row.rule_ids)
            )
        )
    started = frozenset(
        head.id
        for head in heads.values()
        if head.status in (Status.RUNNING.value, Status.STOPPED.value)
    )
    plans = Plans(
        tuple(
            ExperimentPlan(
                id=head.id,
                code=head.code,
                running=head.status == Status.RUNNING.value,
                variants=tuple(variants[head.id]),
                replaces=frozenset(head.replaces or ()),
                channels=None if head.channels is None else frozenset(head.channels),
                segments=None if head.segments is None else frozenset(head.segments),
            )
            for head in heads.values()
        )
    )
    enabled = ENABLED_RULES.get(generation)  # the rules this transaction read, if cached
    if generation is None or enabled is None:
        return plans  # a preview: the rows as they are now
    return PLANS.put(generation, plans.as_of(started, frozenset(r.id for r in enabled)))


async def assignments_of(
    conn: AsyncConnection,
    member_id: int,
    plans: Plans,
    *,
    segment: str | None,
    now: datetime,
    assign: bool,
) -> dict[int, int]:
    """The member's variant in each running experiment that admits it: as assigned before,
    else picked now (and written when ``assign``: never changed after)."""
    running = plans.running
    row = (
        await conn.execute(_MEMBER, {"member_id": member_id, "ids": [e.id for e in running]})
    ).one()
    assigned = {int(k): int(v) for k, v in (row.assigned or {}).items()}
    new = {
        e.id: e.variant_for(member_id).id
        for e in running
        if e.id not in assigned and e.admits(row.channel, segment)
    }
    if new and assign:
        await conn.execute(
            insert(experiment_assignments)
            .values(
                [
                    {
                        "experiment_id": e,
                        "member_id": member_id,
                        "variant_id": v,
                        "assigned_at": now,
                    }
                    for e, v in sorted(new.items())
                ]
            )
            .on_conflict_do_nothing()
        )
    return assigned | new


async def choose_rules(conn: AsyncConnection, choice: RuleChoice, rules: list[Rule]) -> list[Rule]:
    plans = await load_plans(conn, choice.generation)
    if not plans.running:
        experimental = plans.experiment_rule_ids
        return [r for r in rules if r.id not in experimental] if experimental else rules
    assigned = await assignments_of(
        conn, choice.member_id, plans, segment=choice.segment, now=choice.now, assign=choice.assign
    )
    return member_rules(rules, plans, assigned)


_OWNER = (
    select(
        experiments.c.code,
        experiments.c.status,
        experiments.c.winner_variant_id,
        experiment_variant_rules.c.variant_id,
    )
    .select_from(
        experiment_variant_rules.join(
            experiment_variants, experiment_variants.c.id == experiment_variant_rules.c.variant_id
        ).join(experiments, experiments.c.id == experiment_variants.c.experiment_id)
    )
    .where(experiment_variant_rules.c.rule_id == bindparam("rule_id", type_=BigInteger))
)


async def guard_rule_change(conn: AsyncConnection, rule_id: int) -> None:
    """Staff may not change a variant's rule through the rule book once its experiment started
    (its variants never change while it runs; a loser of a rollout stays off); a draft's, or a
    rolled-out winner's (a programme rule now), they may."""
    owner = (await conn.execute(_OWNER, {"rule_id": rule_id})).first()
    if owner is None or owner.status == Status.DRAFT.value:
        return
    if owner.status == Status.ROLLED_OUT.value and owner.winner_variant_id == owner.variant_id:
        return
    raise DomainError(
        ErrorCode.INVALID_STATE,
        f"earning rule {rule_id} is a variant's rule in experiment {owner.code!r} "
        f"({owner.status}): it cannot change",
        "id",
    )
