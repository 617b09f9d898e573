"""The domain's enums as GraphQL knows them (registered once, under their schema names, before
any type or input uses them)."""

from __future__ import annotations

import strawberry

from app.segments.policy import Segment

__all__ = ["Segment"]

strawberry.enum(Segment, name="MemberSegmentName")
