"""The collector policy freezes survivors often and collects them fully now and then."""

from __future__ import annotations

import asyncio
import gc

from app.gcpolicy import keep_gc_pauses_short


async def test_survivors_are_frozen_and_a_full_collection_unfreezes_them() -> None:
    gc.unfreeze()
    task = asyncio.create_task(keep_gc_pauses_short(freeze_every=0.01, full_every=3600))
    try:
        await asyncio.sleep(0.05)
        assert gc.get_freeze_count() > 0
        frozen_before = gc.get_freeze_count()
        task.cancel()
        gc.unfreeze()
        assert gc.get_freeze_count() == 0 < frozen_before
        full = asyncio.create_task(keep_gc_pauses_short(freeze_every=0.01, full_every=0))
        await asyncio.sleep(0.05)
        full.cancel()
        assert gc.get_freeze_count() > 0  # collected, then frozen again
    finally:
        task.cancel()
        gc.unfreeze()
