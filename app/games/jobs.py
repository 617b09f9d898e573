"""The games' scheduled work (scheduled in app/jobs/catalogue.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from app.games.auctions import AUCTIONS
from app.games.crowdfunding import CAMPAIGNS
from app.games.duels import close_due_duels
from app.games.lifecycle import CloseOutcome
from app.runtime import Runtime

PAGE = 200


async def _all_due(rt: Runtime, step: Callable[..., Awaitable[CloseOutcome]]) -> tuple[int, int]:
    """Page until nothing is due (after a downtime)."""
    closed = skipped = 0
    while True:
        outcome = await step(rt, limit=PAGE)
        closed, skipped = closed + outcome.closed, skipped + outcome.skipped
        if outcome.closed + outcome.skipped < PAGE:
            return closed, skipped


async def close_games(rt: Runtime) -> Mapping[str, Any]:
    """Close what ended by the clock's time: auctions, crowdfunding campaigns, then duels
    (challenges not accepted in time expire; duels past their window are decided)."""
    auctions, skipped_auctions = await _all_due(rt, AUCTIONS.close_due)
    campaigns, skipped_campaigns = await _all_due(rt, CAMPAIGNS.close_due)
    duels = {"duels_expired": 0, "duels_closed": 0, "skipped": 0}
    while True:
        step = await close_due_duels(rt, limit=PAGE)
        duels = {name: duels[name] + step[name] for name in duels}
        if max(step["duels_expired"], step["duels_closed"]) + step["skipped"] < PAGE:
            break
    return {
        "auctions_closed": auctions,
        "campaigns_closed": campaigns,
        "duels_expired": duels["duels_expired"],
        "duels_closed": duels["duels_closed"],
        "skipped": skipped_auctions + skipped_campaigns + duels["skipped"],
    }
