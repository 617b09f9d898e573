"""The domain's enums as GraphQL knows them (registered once, under their schema names, before
any type or input uses them)."""

from __future__ import annotations

import strawberry

from app.earning.rules import CapPeriod, Combination, EffectKind, Stacking, Trigger

__all__ = ["CapPeriod", "Combination", "EffectKind", "Stacking", "Trigger"]

strawberry.enum(Trigger, name="EarningTrigger")
strawberry.enum(EffectKind, name="EarningEffectKind")
strawberry.enum(Combination, name="RuleCombination")
strawberry.enum(Stacking, name="MultiplierStacking")
strawberry.enum(CapPeriod, name="CapPeriod")
