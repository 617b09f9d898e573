"""The domain's enums as GraphQL knows them (registered once, under their schema names, before
any type or input uses them)."""

from __future__ import annotations

import strawberry

from app.tiers.policy import QualifyingMeasure, TaskMeasure

__all__ = ["QualifyingMeasure", "TaskMeasure"]

strawberry.enum(TaskMeasure, name="TierTaskMeasure")
strawberry.enum(QualifyingMeasure, name="TierQualifyingMeasure")
