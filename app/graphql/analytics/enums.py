"""The domain's enums as GraphQL knows them (registered once, under their schema names, before
any type or input uses them)."""

from __future__ import annotations

import strawberry

from app.analytics.alerts import AlertStatus
from app.analytics.policy import Granularity

__all__ = ["AlertStatus", "Granularity"]

strawberry.enum(Granularity, name="KpiGranularity")
strawberry.enum(AlertStatus, name="AlertStatus")
