"""The domain's enums as GraphQL knows them (registered once, under their schema names, before
any type or input uses them)."""

from __future__ import annotations

import strawberry

from app.members.models import MemberStatus

__all__ = ["MemberStatus"]

strawberry.enum(MemberStatus, name="MemberStatus")
