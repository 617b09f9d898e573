"""The domain's enums as GraphQL knows them (registered once, under their schema names, before
any type or input uses them)."""

from __future__ import annotations

import strawberry

from app.engagement.tasks import Metric, TaskKind, TaskPeriod, TaskTrigger

__all__ = ["Metric", "TaskKind", "TaskPeriod", "TaskTrigger"]

strawberry.enum(TaskKind, name="TaskKind")
strawberry.enum(TaskTrigger, name="TaskTrigger")
strawberry.enum(Metric, name="TaskMetric")
strawberry.enum(TaskPeriod, name="TaskPeriod")
