"""The domain's enums as GraphQL knows them (registered once, under their schema names, before
any type or input uses them)."""

from __future__ import annotations

import strawberry

from app.ledger.models import EntryKind, HoldStatus

__all__ = ["EntryKind", "HoldStatus"]

strawberry.enum(EntryKind, name="EntryKind")
strawberry.enum(HoldStatus, name="HoldStatus")
