"""Fixtures for the games' service tests: the mall's members with points and items, and an
auction of an item."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from app.games import auctions
from app.games.policy import AuctionSpec
from app.runtime import Runtime
from tests.mall.conftest import STAFF, MakeItem, make_item, make_member

__all__ = ["make_item", "make_member"]

MakeAuction = Callable[..., Awaitable[auctions.Auction]]


@pytest.fixture
def make_auction(runtime: Runtime, make_item: MakeItem) -> MakeAuction:
    async def make(code: str = "a1", *, stock: int | None = 1, **changes: Any) -> auctions.Auction:
        item = await make_item(stock=stock, code=f"item-{code}", **changes.pop("item", {}))
        now = runtime.clock.now()
        values: dict[str, Any] = {
            "code": code,
            "name": "Thermos",
            "item_id": item.id,
            "starts_at": now - timedelta(hours=1),
            "ends_at": now + timedelta(minutes=10),
            "starting_price": 100,
            "min_increment": 10,
            "extend_seconds": 30,
        }
        values.update(changes)
        return await auctions.AUCTIONS.create(runtime, STAFF, AuctionSpec(**values))

    return make
