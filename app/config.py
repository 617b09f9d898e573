"""Settings from the environment (prefix ``JIFEN_``)."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class NegativeBalancePolicy(StrEnum):
    """What a claw-back does when the member already spent the points it takes back."""

    ALLOW_NEGATIVE = "allow_negative"  # the member owes the rest (a debt paid by later credits)
    TAKE_REMAINING = "take_remaining"  # take what is left; the rest is written off


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JIFEN_", env_file=".env", extra="ignore")

    # When unset, `jifen serve` starts an embedded PostgreSQL and Redis under `data_dir`.
    database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = Path(".jifen")

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1

    # Generated and stored under data_dir by the embedded default when unset.
    jwt_secret: str | None = None
    jwt_issuer: str = "jifen"
    jwt_ttl_seconds: int = 12 * 3600

    timezone: str = "Asia/Shanghai"
    point_value_cny: str = "0.1"
    max_points_per_operation: int = Field(default=10_000_000, ge=1)
    negative_balance_policy: NegativeBalancePolicy = NegativeBalancePolicy.ALLOW_NEGATIVE
    default_hold_seconds: int = 15 * 60
    default_expiry_months: int | None = 12

    max_query_depth: int = 12
    max_query_aliases: int = 30
    max_query_tokens: int = 2_000
    page_size_cap: int = 100

    db_pool_size: int = 10
    log_level: str = "INFO"
    log_json: bool = True


@lru_cache
def get_settings() -> Settings:
    return Settings()
