"""An experiment's results per variant equal a from-scratch SQL over the ledger, the purchases
and the point values, with SciPy's intervals over the per-member figures; assignment survives a
new process (fresh caches, a new engine: a restart or another replica)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np
import pytest
from scipy import stats
from sqlalchemy import text

from app.clock import FrozenClock
from app.earning import usecases as earning
from app.earning.commands import PurchaseLineInput, RecordPurchase, RecordRefund
from app.earning.rulebook import ENABLED_RULES
from app.experiments import chooser
from app.experiments import usecases as experiments
from app.experiments.models import ExperimentDraft, VariantDraft
from app.ledger import usecases as ledger
from app.ledger.audit import audit_ledger
from app.ledger.commands import Earn, Spend
from app.ledger.models import Actor
from app.members import usecases as members
from app.runtime import Runtime
from app.valuation.usecases import set_point_value
from tests.graphql.conftest import Api, assert_audit_clean

STAFF = Actor("staff:alice", "api", kind="staff")
POS = Actor("partner:shop", "pos")


def per_unit(name: str, rate: str) -> dict[str, Any]:
    return {"name": name, "trigger": "purchase", "effect": {"kind": "per_unit", "rate": rate}}


async def start(rt: Runtime, code: str = "econ") -> None:
    base = await earning.create_rule(rt, STAFF, per_unit("base", "1"))
    draft = ExperimentDraft(
        code=code,
        name="economics",
        replaces=[base.rule.id],
        variants=[
            VariantDraft("a", "control", Decimal(1), [per_unit("a-base", "1")]),
            VariantDraft("b", "double", Decimal(1), [per_unit("b-double", "2")]),
        ],
    )
    await experiments.create_experiment(rt, STAFF, draft)
    await experiments.start_experiment(rt, STAFF, code)


async def buy(rt: Runtime, member: int, order: str, amount: str) -> None:
    await earning.record_purchase(
        rt,
        POS,
        RecordPurchase(
            member, "pos", order, [PurchaseLineInput("s", "grocery", 1, Decimal(amount))]
        ),
    )


# The from-scratch figures: straight over entries, purchases and point_values, written without
# the analytics' flows or the experiments' SQL.
SCRATCH = text(
    """
    SELECT v.code AS variant, a.member_id,
      (SELECT coalesce(sum(e.amount), 0) FROM entries e
        WHERE e.member_id = a.member_id AND e.created_at >= a.assigned_at
          AND e.created_at < :until
          AND (e.kind IN ('earn', 'exchange_in') OR (e.kind = 'adjustment' AND e.amount > 0))
      ) AS issued,
      (SELECT coalesce(sum(e.amount * coalesce(
          (SELECT pv.value FROM point_values pv
            WHERE pv.effective_from <= ((e.created_at AT TIME ZONE :tz)::date::timestamp
                                        AT TIME ZONE :tz)
            ORDER BY pv.effective_from DESC, pv.id DESC LIMIT 1), :default)), 0)
        FROM entries e
        WHERE e.member_id = a.member_id AND e.created_at >= a.assigned_at
          AND e.created_at < :until
          AND (e.kind IN ('earn', 'exchange_in') OR (e.kind = 'adjustment' AND e.amount > 0))
      ) AS cost,
      (SELECT coalesce(-sum(e.amount), 0) FROM entries e
        WHERE e.member_id = a.member_id AND e.created_at >= a.assigned_at
          AND e.created_at < :until AND e.kind IN ('spend', 'exchange_out')
      ) AS redeemed,
      (SELECT count(*) FROM purchases p
        WHERE p.member_id = a.member_id AND p.created_at >= a.assigned_at
          AND p.created_at < :until) AS purchases,
      (SELECT coalesce(sum(p.amount - p.refunded_amount), 0) FROM purchases p
        WHERE p.member_id = a.member_id AND p.created_at >= a.assigned_at
          AND p.created_at < :until) AS sales,
      EXISTS (SELECT 1 FROM entries e
        WHERE e.member_id = a.member_id AND e.created_at < :until
          AND e.kind IN ('earn', 'spend', 'gift_sent', 'exchange_in', 'exchange_out')
          AND (e.created_at AT TIME ZONE :tz)::date > (a.assigned_at AT TIME ZONE :tz)::date
      ) AS retained
    FROM experiment_assignments a
    JOIN experiment_variants v ON v.id = a.variant_id
    JOIN experiments x ON x.id = a.experiment_id
    WHERE x.code = :code
    ORDER BY v.position, a.member_id
    """
)


def t_interval(values: list[float]) -> tuple[float, float]:
    array = np.array(values, dtype=float)
    low, high = stats.t.interval(0.95, len(array) - 1, loc=array.mean(), scale=stats.sem(array))
    return float(low), float(high)


async def traffic(rt: Runtime, clock: FrozenClock, people: list[int]) -> None:
    """Six business days of purchases, refunds, spends and point-value changes; the experiment
    is stopped on the fifth and the sixth must not count."""
    rng = random.Random(20)
    for member in people[:5]:  # before the experiment: never counted
        await ledger.earn_points(
            rt, STAFF, Earn(member, 40, "before"), idempotency_key=f"pre-{member}"
        )
    await start(rt)
    await set_point_value(
        rt, STAFF, Decimal("0.2"), effective_from=clock.now() + timedelta(hours=30), reason="up"
    )
    for day in range(6):
        if day == 4:
            await experiments.stop_experiment(rt, STAFF, "econ")
        for member in people:
            if day == 0 or rng.random() < 0.4:
                order = f"o-{day}-{member}"
                await buy(rt, member, order, f"{rng.randint(1, 400)}.{rng.randint(0, 99):02d}")
                if rng.random() < 0.2:
                    refund = RecordRefund("pos", order, f"r-{order}", amount=Decimal("0.50"))
                    await earning.record_refund(rt, POS, refund)
            if rng.random() < 0.3:
                key = f"gift-{day}-{member}"
                await ledger.earn_points(
                    rt, STAFF, Earn(member, 30, "goodwill"), idempotency_key=key
                )
                await ledger.spend_points(
                    rt, STAFF, Spend(member, rng.randint(1, 30), "spend"), idempotency_key=f"s{key}"
                )
        clock.advance(timedelta(days=1))


async def test_results_equal_the_from_scratch_sql(api: Api, clock: FrozenClock) -> None:
    rt = api.runtime
    people = [
        (await members.register_member(rt, channel="pos", external_ref=f"r{i}")).member.id
        for i in range(40)
    ]
    await traffic(rt, clock, people)
    found = await experiments.experiment_results(rt, "econ")
    assert found.experiment.status.value == "stopped"
    until = found.experiment.ended_at
    assert until is not None and found.until == until
    async with rt.engine.connect() as conn:
        rows = list(
            await conn.execute(
                SCRATCH,
                {
                    "code": "econ",
                    "until": until,
                    "tz": rt.settings.timezone,
                    "default": Decimal("0.1"),
                },
            )
        )
    by_variant: dict[str, list[Any]] = {"a": [], "b": []}
    for row in rows:
        by_variant[row.variant].append(row)
    assert all(by_variant.values()), "both variants have members"
    assert [v.code for v in found.variants] == ["a", "b"]
    for result in found.variants:
        mine = by_variant[result.code]
        issued = [int(r.issued) for r in mine]
        sales = [Decimal(r.sales) for r in mine]
        retained = sum(1 for r in mine if r.retained)
        assert result.members == len(mine)
        assert result.points_issued == sum(issued)
        assert result.points_cost == sum((Decimal(r.cost) for r in mine), Decimal(0)).quantize(
            Decimal("0.01"), ROUND_HALF_EVEN
        )
        assert result.points_redeemed == sum(int(r.redeemed) for r in mine)
        assert result.purchases == sum(int(r.purchases) for r in mine)
        assert result.sales == sum(sales, Decimal(0))
        assert result.retained == retained
        assert result.redemption_rate == (
            Decimal(result.points_redeemed) / Decimal(result.points_issued)
        ).quantize(Decimal("0.000001"), ROUND_HALF_EVEN)
        assert result.issued_per_member.estimate == pytest.approx(np.mean(issued))
        low, high = t_interval([float(i) for i in issued])
        assert (result.issued_per_member.low, result.issued_per_member.high) == pytest.approx(
            (low, high)
        )
        low, high = t_interval([float(s) for s in sales])
        assert (result.sales_per_member.low, result.sales_per_member.high) == pytest.approx(
            (low, high)
        )
        wilson = stats.binomtest(retained, len(mine)).proportion_ci(0.95, method="wilson")
        assert (result.retention.low, result.retention.high) == pytest.approx(
            (wilson.low, wilson.high)
        )
    # B against the control, as SciPy tests the per-member values.
    assert found.variants[0].versus_control is None
    versus = found.variants[1].versus_control
    assert versus is not None
    a_rows, b_rows = by_variant["a"], by_variant["b"]
    for measure, p_value in (("issued", versus.issued_p_value), ("sales", versus.sales_p_value)):
        welch = stats.ttest_ind(
            [float(getattr(r, measure)) for r in a_rows],
            [float(getattr(r, measure)) for r in b_rows],
            equal_var=False,
        )
        assert p_value == pytest.approx(float(welch.pvalue))
    kept = [sum(1 for r in rows if r.retained) for rows in (a_rows, b_rows)]
    fisher = stats.fisher_exact(
        [[kept[0], len(a_rows) - kept[0]], [kept[1], len(b_rows) - kept[1]]]
    )
    assert versus.retention_p_value == pytest.approx(float(fisher.pvalue))
    assert versus.issued_p_value is not None and versus.issued_p_value < 0.05  # B pays double
    # The variants differ as they should: B's rule pays double.
    a, b = found.variants
    assert b.points_issued / b.purchases > a.points_issued / a.purchases
    for variant in (a, b):  # the days before the value went up cost 0.1, the rest 0.2
        assert Decimal("0.1") < variant.points_cost / variant.points_issued < Decimal("0.2")
        assert 0 < variant.retained < variant.members and variant.points_redeemed > 0
    # Through the API, the same figures.
    body = await api.call(
        """{ experimentResults(code: "econ") { until variants { code members pointsIssued
             pointsCost pointsRedeemed redemptionRate purchases sales retained retentionRate
             issuedPerMember { estimate low high confidence } retention { low high }
             versusControl { issuedPValue salesPValue retentionPValue } } } }""",
        headers=api.staff_headers("analyst"),
    )
    read = body["data"]["experimentResults"]["variants"]
    assert [(v["code"], v["members"], v["pointsIssued"], v["pointsCost"]) for v in read] == [
        (r.code, r.members, r.points_issued, str(r.points_cost)) for r in found.variants
    ]
    assert read[0]["issuedPerMember"]["confidence"] == 0.95
    assert read[0]["versusControl"] is None
    assert read[1]["versusControl"]["issuedPValue"] == pytest.approx(versus.issued_p_value)
    await assert_audit_clean(api)


async def test_assignment_is_stable_across_a_restart_and_another_process(
    api: Api, settings: Any, clock: FrozenClock
) -> None:
    rt = api.runtime
    await start(rt, "stable")
    people = [
        (await members.register_member(rt, channel="pos", external_ref=f"s{i}")).member.id
        for i in range(30)
    ]
    for member in people:
        await buy(rt, member, f"first-{member}", "10")
    async with rt.engine.connect() as conn:
        stored = dict(
            (
                await conn.execute(
                    text(
                        "SELECT a.member_id, v.code FROM experiment_assignments a"
                        " JOIN experiment_variants v ON v.id = a.variant_id"
                    )
                )
            ).all()
        )
    assert sorted(stored) == sorted(people)
    # A restart: the process's caches gone, a new runtime with its own engine.
    ENABLED_RULES.put("", [])
    chooser.PLANS.put("", chooser.Plans(()))
    from tests.graphql.conftest import api_with

    clock.advance(timedelta(days=1))
    async with api_with(settings, clock) as replica:
        newcomer = (
            await members.register_member(replica.runtime, channel="pos", external_ref="late")
        ).member.id
        for member in [*people, newcomer]:
            await buy(replica.runtime, member, f"second-{member}", "10")
        async with replica.runtime.engine.connect() as conn:
            after = dict(
                (
                    await conn.execute(
                        text(
                            "SELECT a.member_id, v.code FROM experiment_assignments a"
                            " JOIN experiment_variants v ON v.id = a.variant_id"
                        )
                    )
                ).all()
            )
    assert {m: after[m] for m in people} == stored  # never moved
    # Another process, another hash seed: the same variant for every member, newcomer too.
    script = (
        "import json, sys; from decimal import Decimal; from app.experiments.policy import pick;"
        "ids = json.loads(sys.argv[1]);"
        "print(json.dumps({m: pick('stable', m, [('a', Decimal(1)), ('b', Decimal(1))])"
        " for m in ids}))"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        json.dumps(sorted(after)),
        env={**os.environ, "PYTHONHASHSEED": "99"},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    assert process.returncode == 0
    assert {int(k): v for k, v in json.loads(out).items()} == after
    await assert_audit_clean(api)


async def test_the_audit_sees_a_variant_rule_switched_behind_the_experiments_back(
    api: Api,
) -> None:
    rt = api.runtime
    await start(rt, "audited")
    member = (await members.register_member(rt, channel="pos", external_ref="x")).member.id
    await buy(rt, member, "o-1", "10")
    await assert_audit_clean(api)
    async with rt.engine.begin() as conn:  # what no use case does: a running variant's rule off
        await conn.execute(text("UPDATE earning_rules SET enabled = false WHERE name = 'b-double'"))
        await conn.execute(
            text("UPDATE experiment_assignments SET assigned_at = assigned_at - interval '1 day'")
        )
    report = await audit_ledger(rt.engine, rt.clock.now())
    failed = {check.name for check in report.checks if not check.ok}
    assert failed == {
        "a variant's earning rules are on only while its experiment runs",
        "no member was assigned before its experiment started",
    }
