"""Fixtures for mall service tests: members with points, items, and the audit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from app.ledger import usecases as ledger
from app.ledger.audit import audit_ledger
from app.ledger.commands import Earn
from app.ledger.models import Actor
from app.mall import usecases as mall
from app.mall.catalogue import ItemSpec, create_item
from app.mall.policy import Item, ItemKind
from app.members import usecases as members
from app.runtime import Runtime

STAFF = Actor("staff:alice", "api")
SYSTEM = Actor("system", "jobs")

GOODS = ItemSpec(code="mug", name="Mug", kind=ItemKind.GOODS, points_price=200)

MakeMember = Callable[..., Awaitable[int]]
MakeItem = Callable[..., Awaitable[Item]]
OrdinaryPath = Callable[[], AbstractContextManager[None]]


def member_actor(member_id: int) -> Actor:
    return Actor(f"member:{member_id}", "app")


@pytest.fixture
def make_member(runtime: Runtime) -> MakeMember:
    async def make(ref: str = "m", points: int = 1_000, *, second_lot: int = 0) -> int:
        reg = await members.register_member(runtime, channel="app", external_ref=ref)
        member_id = reg.member.id
        if points:
            await ledger.earn_points(
                runtime,
                STAFF,
                Earn(
                    member_id=member_id,
                    amount=points,
                    reason="opening",
                    expires_at=runtime.clock.now() + timedelta(days=30),
                ),
                idempotency_key=f"open-{ref}",
            )
        if second_lot:
            await ledger.earn_points(
                runtime,
                STAFF,
                Earn(
                    member_id=member_id,
                    amount=second_lot,
                    reason="later",
                    expires_at=runtime.clock.now() + timedelta(days=300),
                ),
                idempotency_key=f"second-{ref}",
            )
        return member_id

    return make


@pytest.fixture
def make_item(runtime: Runtime) -> MakeItem:
    async def make(stock: int | None = 10, **changes: Any) -> Item:
        return await create_item(runtime, STAFF, replace(GOODS, **changes), stock)

    return make


@pytest.fixture
def ordinary_path(monkeypatch: pytest.MonkeyPatch) -> OrdinaryPath:
    """Placements made inside it take the ordinary path (BEGIN, its statements, COMMIT): the
    one-statement path (app/mall/onetrip.py) is not tried."""

    async def not_tried(*_: object) -> None:
        return None

    @contextmanager
    def ordinary() -> Iterator[None]:
        with monkeypatch.context() as patch:
            patch.setattr(mall, "place_in_one_trip", not_tried)
            yield

    return ordinary


async def assert_audit_clean(runtime: Runtime) -> None:
    report = await audit_ledger(runtime.engine, runtime.clock.now())
    assert report.ok, report.render()
