"""The configuration cache's generation changes with every insert, update and delete."""

from __future__ import annotations

import itertools

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.configcache import GenerationCache, generation_of
from app.tiers.policy import DEMO_TIERS
from app.tiers.tables import tier_definitions


async def generation(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        value: str = await conn.scalar(select(generation_of(tier_definitions)))
        return value


async def test_every_write_makes_a_new_generation(engine: AsyncEngine) -> None:
    seen = [await generation(engine)]
    normal = DEMO_TIERS[0]
    async with engine.begin() as conn:
        await conn.execute(
            tier_definitions.insert().values(
                code="normal", name="普卡", rank=0, threshold=0, multiplier=normal.multiplier
            )
        )
    seen.append(await generation(engine))
    async with engine.begin() as conn:
        await conn.execute(update(tier_definitions).values(name="普通卡"))
    seen.append(await generation(engine))
    async with engine.begin() as conn:
        await conn.execute(delete(tier_definitions))
    seen.append(await generation(engine))
    # Each write changes it; empty before and after is the same content, the same generation.
    assert all(before != after for before, after in itertools.pairwise(seen)), seen
    assert seen[0] == seen[-1] == "0:0"


def test_a_value_is_kept_only_for_its_generation() -> None:
    cache: GenerationCache[list[str]] = GenerationCache()
    assert cache.get("1:10") is None
    cache.put("1:10", ["rule"])
    assert cache.get("1:10") == ["rule"]
    assert cache.get("1:11") is None and cache.get(None) is None
    assert cache.latest() == ["rule"]
