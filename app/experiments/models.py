"""What staff define and read of an experiment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.experiments.policy import Status


@dataclass(frozen=True)
class VariantDraft:
    code: str
    name: str
    weight: Decimal
    rules: Sequence[Mapping[str, Any]] = ()  # earning rule specs (docs/EARNING.md)
    # The points a named task pays (by task code) and the points price of a named mall item
    # (by item code) for this variant's members (docs/EXPERIMENTS.md).
    task_rewards: Sequence[tuple[str, Decimal]] = ()
    item_prices: Sequence[tuple[str, Decimal]] = ()


@dataclass(frozen=True)
class ExperimentDraft:
    code: str
    name: str
    variants: Sequence[VariantDraft]
    replaces: Sequence[int] = ()  # programme rule ids the variants' members do without
    channels: Sequence[str] | None = None
    segments: Sequence[str] | None = None


@dataclass(frozen=True)
class Variant:
    id: int
    code: str
    name: str
    weight: Decimal
    rule_ids: tuple[int, ...]
    members: int
    task_rewards: Mapping[str, int] = field(default_factory=dict)
    item_prices: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    id: int
    code: str
    name: str
    status: Status
    variants: tuple[Variant, ...]
    replaces: tuple[int, ...]
    channels: tuple[str, ...] | None
    segments: tuple[str, ...] | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    ended_by: str | None
    winner: str | None  # the variant rolled out
