"""The process-wide parts every use case needs, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.clock import Clock
from app.config import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    redis: Redis
    clock: Clock
