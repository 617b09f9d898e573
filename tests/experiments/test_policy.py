"""Assignment and the rules a member earns by: pure, no database."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from decimal import Decimal

import pytest

from app.earning.rules import Effect, EffectKind, Rule, Trigger
from app.errors import DomainError
from app.experiments.policy import (
    ExperimentPlan,
    Plans,
    VariantPlan,
    check_code,
    check_weight,
    member_rules,
    pick,
    point_of,
)

MEMBERS = 100_000


def _within(observed: int, n: int, share: float) -> bool:
    """Within five binomial standard deviations of n * share (about 1 in 3.5 million to fail
    by chance; the hash is fixed, so a pass is a pass for ever)."""
    sd = math.sqrt(n * share * (1 - share))
    return abs(observed - n * share) <= 5 * sd


@pytest.mark.parametrize(
    "weights",
    [
        [("a", Decimal(1)), ("b", Decimal(1))],
        [("a", Decimal(1)), ("b", Decimal(2)), ("c", Decimal(7))],
        [("a", Decimal("0.5")), ("b", Decimal("0.25")), ("c", Decimal("0.25"))],
        [("control", Decimal("99")), ("tiny", Decimal("1"))],
    ],
)
def test_assignment_over_100000_members_is_balanced_by_the_weights(
    weights: list[tuple[str, Decimal]],
) -> None:
    counts = Counter(pick("balance-test", member, weights) for member in range(1, MEMBERS + 1))
    total = sum(w for _, w in weights)
    for key, weight in weights:
        share = float(weight / total)
        assert _within(counts[key], MEMBERS, share), (key, counts[key], MEMBERS * share)


def test_two_experiments_assign_independently() -> None:
    """Being in B of one experiment says nothing of the next one (another code, another hash)."""
    halves = [("a", Decimal(1)), ("b", Decimal(1))]
    pairs = Counter(
        (pick("first", m, halves), pick("second", m, halves)) for m in range(1, MEMBERS + 1)
    )
    for pair in [("a", "a"), ("a", "b"), ("b", "a"), ("b", "b")]:
        assert _within(pairs[pair], MEMBERS, 0.25), pairs


def test_assignment_is_the_same_in_another_process_with_another_hash_seed() -> None:
    weights = [("a", Decimal(1)), ("b", Decimal(3))]
    here = {m: pick("stable", m, weights) for m in range(1, 2001)}
    script = (
        "import json; from decimal import Decimal; from app.experiments.policy import pick; "
        "w = [('a', Decimal(1)), ('b', Decimal(3))]; "
        "print(json.dumps({m: pick('stable', m, w) for m in range(1, 2001)}))"
    )
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        assert {int(k): v for k, v in json.loads(out.stdout).items()} == here


def test_the_point_is_sha256_of_code_and_member() -> None:
    # Pinned: a change of the function would move every running experiment's members.
    assert point_of("exp", 42) == 0x78B48402C43F6F49
    assert point_of("exp", 42) != point_of("exp", 43)


def test_a_slice_edge_belongs_to_the_next_variant() -> None:
    # Exact integer arithmetic: weights 1 and 1 split at 2**63 precisely.
    weights = [("a", Decimal(1)), ("b", Decimal(1))]
    members = range(1, 5000)
    for m in members:
        expected = "a" if point_of("edge", m) < 2**63 else "b"
        assert pick("edge", m, weights) == expected


@pytest.mark.parametrize(
    "weight", ["0", "-1", "NaN", "sNaN", "Infinity", "-Infinity", "0.00001", "10000.0001"]
)
def test_weights_that_are_not_positive_finite_numbers_are_refused(weight: str) -> None:
    with pytest.raises(DomainError) as refused:
        check_weight(Decimal(weight), "variants[1].weight")
    assert refused.value.code == "INVALID_INPUT"
    assert refused.value.field == "variants[1].weight"


def test_good_weights_pass() -> None:
    assert check_weight(Decimal("0.0001"), "w") == Decimal("0.0001")
    assert check_weight(Decimal("10000"), "w") == Decimal("10000")


@pytest.mark.parametrize("code", ["", "A", "has space", "é", "x" * 65, "-lead", "a;drop"])
def test_hostile_codes_are_refused(code: str) -> None:
    with pytest.raises(DomainError):
        check_code(code, "code")


def _rule(rule_id: int) -> Rule:
    return Rule(
        rule_id, f"r{rule_id}", Trigger.PURCHASE, Effect(EffectKind.PER_UNIT, rate=Decimal(1))
    )


PLANS = Plans(
    (
        ExperimentPlan(
            id=1,
            code="e",
            running=True,
            variants=(
                VariantPlan(10, "a", Decimal(1), frozenset({101})),
                VariantPlan(11, "b", Decimal(1), frozenset({102, 103})),
            ),
            replaces=frozenset({1}),
            channels=None,
            segments=None,
        ),
        ExperimentPlan(
            id=2,
            code="old",
            running=False,
            variants=(VariantPlan(20, "a", Decimal(1), frozenset({201})),),
            replaces=frozenset({2}),
            channels=None,
            segments=None,
        ),
    )
)
RULES = [_rule(i) for i in (1, 2, 101, 102, 103, 201)]


def test_a_member_in_b_earns_by_bs_rules_and_the_programme_rules_not_replaced() -> None:
    assert [r.id for r in member_rules(RULES, PLANS, {1: 11})] == [2, 102, 103]
    assert [r.id for r in member_rules(RULES, PLANS, {1: 10})] == [2, 101]


def test_a_member_outside_earns_by_the_programme_only() -> None:
    assert [r.id for r in member_rules(RULES, PLANS, {})] == [1, 2]


def test_admission_by_channel_and_segment() -> None:
    plan = ExperimentPlan(1, "e", True, (), frozenset(), frozenset({"app"}), frozenset({"new"}))
    assert plan.admits("app", "new")
    assert not plan.admits("pos", "new")
    assert not plan.admits("app", "loyal")
    assert not plan.admits(None, None)


def test_the_plans_run_as_the_rules_of_their_generation_say() -> None:
    """A start committed after the rules were read: not running yet for that purchase; a stop
    committed after: still running for it; a draft never, whatever its rules."""
    started = frozenset({1, 2})
    as_read = PLANS.as_of(started, frozenset({1, 2, 101, 102, 103, 201}))
    assert [e.running for e in as_read.experiments] == [True, True]
    before_start = PLANS.as_of(started, frozenset({1, 2}))
    assert [e.running for e in before_start.experiments] == [False, False]
    draft = PLANS.as_of(frozenset(), frozenset({101, 201}))
    assert [e.running for e in draft.experiments] == [False, False]
