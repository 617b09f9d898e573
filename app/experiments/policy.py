"""Pure decisions of experiments: checking a definition, assigning a member to a variant, and
the rules a member earns by. No I/O, no clock (docs/EXPERIMENTS.md)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TypeVar

from app.earning.rules import Rule
from app.errors import invalid

CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_VARIANTS = 10
MAX_WEIGHT = Decimal("10000")
WEIGHT_PLACES = Decimal("0.0001")
MAX_RULES_PER_VARIANT = 20
# The hash's first 64 bits place a member on [0, 2**64): a uniform point, the same in every
# process, release and replica (Python's hash() is salted per process: never that).
HASH_SPACE = 2**64


class Status(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    STOPPED = "stopped"
    ROLLED_OUT = "rolled_out"


def check_code(code: str, field: str) -> str:
    if not CODE.match(code):
        raise invalid(
            "a code is 1 to 64 lowercase letters, digits, '-' or '_' (starting with a letter "
            "or digit)",
            field,
        )
    return code


def check_weight(weight: Decimal, field: str) -> Decimal:
    """A weight is a positive, finite number up to 10,000 with at most four decimals."""
    try:
        exact = weight.quantize(WEIGHT_PLACES)
    except InvalidOperation:
        raise invalid("a weight must be a finite number", field) from None
    if not weight.is_finite() or exact != weight or exact <= 0 or exact > MAX_WEIGHT:
        raise invalid(
            f"a weight is a positive number up to {MAX_WEIGHT} with at most four decimals", field
        )
    return exact


class OverrideKind(StrEnum):
    TASK_REWARD = "task_reward"  # the points a task pays on completion
    ITEM_PRICE = "item_price"  # a mall item's points price


MAX_OVERRIDES_PER_VARIANT = 50
MAX_OVERRIDE_POINTS = 100_000_000


def check_override(kind: OverrideKind, points: Decimal, field: str) -> int:
    """A variant's task reward (0 or more: a variant may test "no reward") or item price
    (1 or more): a whole, finite number of points up to 100,000,000."""
    low = 1 if kind is OverrideKind.ITEM_PRICE else 0
    what = "an item price" if kind is OverrideKind.ITEM_PRICE else "a task reward"
    if (
        not points.is_finite()
        or points != points.to_integral_value()
        or not low <= points <= MAX_OVERRIDE_POINTS
    ):
        raise invalid(
            f"{what} is a whole number of points from {low} to {MAX_OVERRIDE_POINTS}", field
        )
    return int(points)


def point_of(experiment_code: str, member_id: int) -> int:
    """The member's stable point in [0, 2**64) for this experiment: SHA-256 of the experiment's
    code and the member id. Another experiment's code gives an independent point, so being in
    B of one experiment says nothing of the next."""
    digest = hashlib.sha256(f"{experiment_code}:{member_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


K = TypeVar("K")


def pick(experiment_code: str, member_id: int, weights: Sequence[tuple[K, Decimal]]) -> K:
    """The variant (key) the member falls in: the weights cut [0, 2**64) into consecutive
    slices, in the given order, each as wide as its share of the total. Exact integer
    arithmetic (weights have at most four decimals): no float rounding at a slice's edge."""
    if not weights:
        raise ValueError("an experiment has at least one variant")
    scaled = [(key, int(weight / WEIGHT_PLACES)) for key, weight in weights]
    total = sum(units for _, units in scaled)
    point = point_of(experiment_code, member_id) * total
    edge = 0
    for key, units in scaled:
        edge += units * HASH_SPACE
        if point < edge:
            return key
    return scaled[-1][0]  # unreachable: point < total * 2**64


# ------------------------------------------------------------------- the rules a member earns by


@dataclass(frozen=True)
class VariantPlan:
    id: int
    code: str
    weight: Decimal
    rule_ids: frozenset[int]


@dataclass(frozen=True)
class ExperimentPlan:
    """What the rule chooser needs of one experiment that is not rolled out."""

    id: int
    code: str
    running: bool
    variants: tuple[VariantPlan, ...]
    replaces: frozenset[int]
    channels: frozenset[str] | None
    segments: frozenset[str] | None

    @property
    def rule_ids(self) -> frozenset[int]:
        return frozenset().union(*(v.rule_ids for v in self.variants))

    def admits(self, channel: str | None, segment: str | None) -> bool:
        """Whether a member not yet assigned may be assigned now."""
        if self.channels is not None and channel not in self.channels:
            return False
        return self.segments is None or segment in self.segments

    def variant_for(self, member_id: int) -> VariantPlan:
        return pick(self.code, member_id, [(v, v.weight) for v in self.variants])


@dataclass(frozen=True)
class Plans:
    """Every experiment not rolled out, as of one generation of the earning rules."""

    experiments: tuple[ExperimentPlan, ...]

    def as_of(self, started: frozenset[int], enabled: frozenset[int]) -> Plans:
        """The plans as the rules of one generation see them: of the experiments ``started``
        (running or stopped, by their row), those whose rules are ``enabled`` in it run. The
        rules and the experiments' rows are read by two statements; a start or stop committed
        between them would otherwise pair the old rules with the new state (a member withheld
        the replaced rules without its variant's yet, for that one purchase)."""
        return Plans(
            tuple(
                replace(e, running=e.id in started and bool(e.rule_ids & enabled))
                for e in self.experiments
            )
        )

    @property
    def running(self) -> tuple[ExperimentPlan, ...]:
        return tuple(e for e in self.experiments if e.running)

    @property
    def experiment_rule_ids(self) -> frozenset[int]:
        return frozenset().union(*(e.rule_ids for e in self.experiments))


def member_rules(rules: Iterable[Rule], plans: Plans, assigned: Mapping[int, int]) -> list[Rule]:
    """The rules the member earns by, of ``rules`` (the enabled rules of a trigger):
    ``assigned`` maps an experiment id to the member's variant id in it. A variant's rules are
    for its own members only, and only while the experiment runs; a running experiment's
    members do without the programme rules it replaces. Everyone else earns by the
    programme's rules alone."""
    given: set[int] = set()
    withheld: set[int] = set()
    for experiment in plans.running:
        variant_id = assigned.get(experiment.id)
        if variant_id is None:
            continue
        withheld |= experiment.replaces
        for variant in experiment.variants:
            if variant.id == variant_id:
                given |= variant.rule_ids
    experimental = plans.experiment_rule_ids
    return [
        r for r in rules if r.id in given or (r.id not in experimental and r.id not in withheld)
    ]
