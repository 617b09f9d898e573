"""The rule chooser's cost on the hot path, and what a preview shows: with no experiment a
purchase runs the statements it ran before (tests/test_statements.py); with one running, one
more (the member's channel and assignments), and at the member's first exposure the insert of
its assignment too. A preview shows the member its variant's rules and assigns no one."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from app.earning import usecases as earning
from app.earning.commands import PreviewPoints, PurchaseLineInput, RecordPurchase
from app.experiments import usecases as experiments
from app.experiments.models import ExperimentDraft, VariantDraft
from app.experiments.tables import experiment_assignments
from app.members import usecases as members
from app.runtime import Runtime
from tests.experiments.test_results import POS, STAFF, buy, start
from tests.statements import counting


async def _purchase_statements(rt: Runtime, member: int, order: str) -> int:
    with counting(rt) as statements:
        await buy(rt, member, order, "10")
    return len(statements)


async def test_a_running_experiment_costs_a_purchase_one_statement(runtime: Runtime) -> None:
    old = (await members.register_member(runtime, channel="pos", external_ref="old")).member.id
    await earning.create_rule(
        runtime,
        STAFF,
        {"name": "p", "trigger": "purchase", "effect": {"kind": "per_unit", "rate": "1"}},
    )
    await buy(runtime, old, "warm-up", "10")  # caches filled, first purchase behind
    before = await _purchase_statements(runtime, old, "plain")
    await start(runtime, "costed")
    newcomer = (await members.register_member(runtime, channel="pos", external_ref="n")).member.id
    await buy(runtime, newcomer, "warm-up-2", "10")  # caches refilled, first purchase behind
    steady = await _purchase_statements(runtime, newcomer, "steady")
    first = await _purchase_statements(runtime, old, "exposed")  # old's first since the start
    assert (steady, first) == (before + 1, before + 2)
    await experiments.stop_experiment(runtime, STAFF, "costed")
    await buy(runtime, old, "refill", "10")
    assert await _purchase_statements(runtime, old, "after") == before


async def test_a_preview_shows_the_variant_and_assigns_no_one(runtime: Runtime) -> None:
    await start(runtime, "preview")
    member = (await members.register_member(runtime, channel="pos", external_ref="p")).member.id
    lines = [PurchaseLineInput("s", "grocery", 1, Decimal("100"))]
    outcome = await earning.preview_points(runtime, PreviewPoints(member, "pos", lines))
    async with runtime.engine.connect() as conn:
        assigned = await conn.scalar(select(func.count()).select_from(experiment_assignments))
    assert assigned == 0
    await buy(runtime, member, "o-1", "100")
    async with runtime.engine.connect() as conn:
        variant = await conn.scalar(
            select(experiment_assignments.c.variant_id).where(
                experiment_assignments.c.member_id == member
            )
        )
    found = await experiments.get_experiment(runtime, "preview")
    code = next(v.code for v in found.variants if v.id == variant)
    assert {s.name for s in outcome.shares} == {"a": {"a-base"}, "b": {"b-double"}}[code]
    assert outcome.points == {"a": 100, "b": 200}[code]


async def test_a_rollout_that_switches_no_rule_still_reaches_every_process(
    runtime: Runtime,
) -> None:
    """B has the only rule and nothing is replaced: rolling B out switches no rule, yet the
    next purchase of a member of A (cached plan: B's rule for B's members only) earns by it."""
    draft = ExperimentDraft(
        code="bonus",
        name="a bonus",
        variants=[
            VariantDraft("a", "control", Decimal(1)),
            VariantDraft(
                "b",
                "bonus",
                Decimal(1),
                [
                    {
                        "name": "b-bonus",
                        "trigger": "purchase",
                        "effect": {"kind": "fixed", "points": 7},
                    }
                ],
            ),
        ],
    )
    await experiments.create_experiment(runtime, STAFF, draft)
    await experiments.start_experiment(runtime, STAFF, "bonus")
    in_a = None
    for i in range(20):
        member = (
            await members.register_member(runtime, channel="pos", external_ref=f"m{i}")
        ).member.id
        await buy(runtime, member, f"o-{member}", "10")
        found = await experiments.get_experiment(runtime, "bonus")
        if found.variants[0].members and in_a is None:
            in_a = member
            break
    assert in_a is not None
    await buy(runtime, in_a, "before", "10")  # the plan cached at this generation
    await experiments.roll_out_experiment(runtime, STAFF, "bonus", "b")
    outcome = await earning.record_purchase(
        runtime,
        POS,
        RecordPurchase(in_a, "pos", "after", [PurchaseLineInput("s", "g", 1, Decimal("10"))]),
    )
    assert outcome.purchase.points == 7
