"""Fixtures for earning service tests: the demo tiers, a member, rule helpers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

from app.earning import usecases
from app.earning.commands import PurchaseLineInput
from app.ledger.models import Actor
from app.members import usecases as members
from app.runtime import Runtime
from app.tiers.policy import DEMO_TIERS
from app.tiers.usecases import install_tiers

STAFF = Actor("staff:alice", "api")
POS = Actor("partner:shop", "pos")

BASE = {
    "name": "base 1 point per CNY",
    "trigger": "purchase",
    "effect": {"kind": "per_unit", "rate": "1"},
}
FIRST = {
    "name": "first purchase +50",
    "trigger": "purchase",
    "conditions": {"first_purchase": True},
    "effect": {"kind": "fixed", "points": 50},
}
SHARE = {
    "name": "share 10, at most 30 a day",
    "trigger": "event",
    "event": "share",
    "effect": {"kind": "fixed", "points": 10},
    "caps": {"day": 30},
}


def wednesday(stacking: str) -> dict[str, Any]:
    return {
        "name": "Wednesday member day x2",
        "trigger": "purchase",
        "conditions": {"weekdays": [3]},
        "effect": {"kind": "multiplier", "factor": "2", "stacking": stacking},
    }


def lines(*amounts: str, category: str = "grocery") -> list[PurchaseLineInput]:
    return [PurchaseLineInput(f"sku-{i}", category, 1, Decimal(a)) for i, a in enumerate(amounts)]


@pytest.fixture
async def tiers(runtime: Runtime) -> None:
    await install_tiers(runtime, DEMO_TIERS)


@pytest.fixture
async def member(runtime: Runtime, tiers: None) -> int:
    registration = await members.register_member(runtime, channel="pos", external_ref="m1")
    return registration.member.id


AddRules = Callable[..., Awaitable[list[int]]]


@pytest.fixture
def add_rules(runtime: Runtime, tiers: None) -> AddRules:
    async def add(*specs: dict[str, Any]) -> list[int]:
        return [(await usecases.create_rule(runtime, STAFF, spec)).rule.id for spec in specs]

    return add
