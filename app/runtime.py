"""The process-wide parts every use case needs, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.clock import Clock
from app.config import Settings
from app.redisclient import RedisClient

if TYPE_CHECKING:
    from app.events.broadcast import EventHub


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    redis: RedisClient  # a single server's client or a RedisCluster (app/redisclient.py)
    clock: Clock
    # The process's event fan-out (subscriptions); None where nothing subscribes (CLI commands).
    hub: EventHub | None = None
    # Per-process caches a domain keeps for this runtime (e.g. the mall's flash items).
    caches: dict[str, Any] = field(default_factory=dict)
