"""The breakdown of an earning: which rule gave how much, which cap cut what.

Stored with every earning (the purchase or event record and the ledger entry's details), so a
member's history explains itself; shown by ``previewPoints``, ``recordPurchase`` and ``Entry``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import strawberry

from app.earning.rules import Outcome
from app.graphql.core.fields import node_id


@strawberry.type(description="Points a cap took away from a rule's share.")
class CapCut:
    cap: str = strawberry.field(description="day, week, month, lifetime, budget, daily_ceiling.")
    points: int


@strawberry.type(description="What one rule (or the member's tier) gave.")
class RuleShare:
    rule_id: strawberry.ID | None = strawberry.field(description="Null for the tier multiplier.")
    name: str
    kind: str = strawberry.field(description="The effect kind, or 'tier'.")
    computed: str = strawberry.field(description="Before rounding down and caps (a decimal).")
    points: int
    cuts: list[CapCut]


@strawberry.type(description="A rule that did not apply, and why.")
class SkippedRule:
    rule_id: strawberry.ID
    name: str
    reason: str


@strawberry.type(description="Which rule gave how much, which cap cut what.")
class PointsBreakdown:
    points: int
    business_day: date
    rules: list[RuleShare]
    skipped: list[SkippedRule]

    @classmethod
    def of(cls, details: dict[str, Any]) -> PointsBreakdown:
        return cls(
            points=details["points"],
            business_day=date.fromisoformat(details["business_day"]),
            rules=[
                RuleShare(
                    rule_id=None if r["rule_id"] is None else node_id(r["rule_id"]),
                    name=r["name"],
                    kind=r["kind"],
                    computed=r["computed"],
                    points=r["points"],
                    cuts=[CapCut(cap=c["cap"], points=c["points"]) for c in r["cuts"]],
                )
                for r in details["rules"]
            ],
            skipped=[
                SkippedRule(rule_id=node_id(s["rule_id"]), name=s["name"], reason=s["reason"])
                for s in details["skipped"]
            ],
        )

    @classmethod
    def of_outcome(cls, outcome: Outcome) -> PointsBreakdown:
        return cls.of(outcome.details())
