"""The domain's enums as GraphQL knows them (registered once, under their schema names, before
any type or input uses them)."""

from __future__ import annotations

import strawberry

from app.lifecycle.bank import MoveKind, SpendKind
from app.lifecycle.exchange import Direction

__all__ = ["Direction", "MoveKind", "SpendKind"]

strawberry.enum(Direction, name="ExchangeDirection")
strawberry.enum(MoveKind, name="BankMoveTo")
strawberry.enum(SpendKind, name="BankSpendKind")
