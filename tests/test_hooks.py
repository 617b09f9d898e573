"""Hooks and slots (app/hooks.py), and the wiring the domains register when imported."""

from __future__ import annotations

import pytest

import app.tables  # noqa: F401  (imports every domain: each registers its hooks)
from app.earning.hooks import EVENT_RECORDED, PURCHASE_RECORDED
from app.earning.tables import purchases
from app.engagement import hooks as engagement
from app.engagement.rewards import DRAW_TICKETS
from app.hooks import Hook, Slot
from app.mall.lottery import grant_draw_ticket
from app.tiers.service import PURCHASES


async def test_listeners_run_in_registration_order_once_each() -> None:
    heard: list[str] = []
    hook: Hook[[str]] = Hook("test")

    async def first(what: str) -> None:
        heard.append(f"first {what}")

    async def second(what: str) -> None:
        heard.append(f"second {what}")

    for listener in (first, second, first):
        hook.register(listener)
    await hook("sale")
    assert heard == ["first sale", "second sale"]


def test_an_empty_slot_is_a_wiring_error() -> None:
    slot: Slot[int] = Slot("nothing")
    with pytest.raises(RuntimeError, match="nothing provides nothing"):
        slot()
    slot.provide(7)
    assert slot() == 7


def test_the_domains_wire_themselves_when_imported() -> None:
    assert PURCHASE_RECORDED.listeners == (engagement.purchase_recorded,)
    assert EVENT_RECORDED.listeners == (engagement.event_recorded,)
    assert DRAW_TICKETS() is grant_draw_ticket
    assert PURCHASES() is purchases
