"""Fixtures for engagement service tests: the demo schedules and tiers, members."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from app.engagement import usecases
from app.ledger.models import Actor
from app.members import usecases as members
from app.runtime import Runtime
from app.tiers.policy import DEMO_TIERS
from app.tiers.usecases import install_tiers

STAFF = Actor("staff:alice", "api")

NewMember = Callable[[str], Awaitable[int]]


@pytest.fixture
async def programme(runtime: Runtime) -> None:
    await install_tiers(runtime, DEMO_TIERS)
    await usecases.seed_schedules(runtime, STAFF)


@pytest.fixture
def new_member(runtime: Runtime, programme: None) -> NewMember:
    async def register(ref: str) -> int:
        registration = await members.register_member(runtime, channel="pos", external_ref=ref)
        return registration.member.id

    return register


@pytest.fixture
async def member(new_member: NewMember) -> int:
    return await new_member("m1")


def actor_of(member_id: int) -> Actor:
    return Actor(f"member:{member_id}", "api")
