"""What the API asks of earning, one object a request: built once at the edge (GraphQL, seeds,
tests) and handed through the use case to the decision and the writing, instead of the same
keyword arguments listed again in every layer. Plain values, unchecked: the checks are the
decision's (app/earning/decisions.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class PurchaseLineInput:
    sku: str
    category: str
    quantity: int
    amount: Decimal


@dataclass(frozen=True)
class RefundLineInput:
    line_no: int
    amount: Decimal


@dataclass(frozen=True)
class RecordPurchase:
    """Idempotent on (channel, order id): a replay returns the first result."""

    member_id: int
    channel: str
    order_id: str
    lines: Sequence[PurchaseLineInput]
    occurred_at: datetime | None = None  # None: now


@dataclass(frozen=True)
class RecordRefund:
    """Idempotent on (channel, refund id); by ``lines``, by ``amount``, or (neither) all that
    is left of the order."""

    channel: str
    order_id: str
    refund_id: str
    lines: Sequence[RefundLineInput] | None = None
    amount: Decimal | None = None


@dataclass(frozen=True)
class RecordEvent:
    """Idempotent on (channel, event id)."""

    member_id: int
    channel: str
    event_id: str
    name: str
    quantity: Decimal = Decimal(1)
    occurred_at: datetime | None = None  # None: now


@dataclass(frozen=True)
class RuleDraft:
    """An unsaved rule definition, for a preview: it stands in for the rule ``rule_id`` (an
    edit, enabled or not), or joins the enabled rules as a new one (``rule_id`` None)."""

    spec: Mapping[str, Any]
    rule_id: int | None = None


@dataclass(frozen=True)
class PreviewPoints:
    """What a basket would earn at ``at`` (None: now), with ``draft`` as if saved; nothing is
    written."""

    member_id: int
    channel: str
    lines: Sequence[PurchaseLineInput]
    at: datetime | None = None
    draft: RuleDraft | None = None
