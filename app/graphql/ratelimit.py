"""Per-principal request budgets, counted in Redis so that every replica shares them."""

from __future__ import annotations

from collections.abc import AsyncIterator

from graphql import GraphQLError
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import BlockingConnectionPool
from strawberry.extensions import SchemaExtension

from app.auth.principal import PrincipalKind
from app.config import Settings
from app.errors import ErrorCode
from app.graphql.context import Context
from app.logging import get_logger

log = get_logger(__name__)


class PrincipalBudgets:
    """The budget of each kind of caller (``JIFEN_RATE_LIMIT_*``) and the shared counter."""

    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.budgets: dict[PrincipalKind, RateLimitItem] = {
            PrincipalKind.MEMBER: parse(settings.rate_limit_member),
            PrincipalKind.STAFF: parse(settings.rate_limit_staff),
            PrincipalKind.PARTNER: parse(settings.rate_limit_partner),
            PrincipalKind.ANONYMOUS: parse(settings.rate_limit_anonymous),
        }
        # A blocking pool: a burst waits for a connection instead of failing open.
        pool = BlockingConnectionPool.from_url(
            redis_url,
            max_connections=settings.redis_pool_size,
            timeout=settings.redis_pool_timeout_seconds,
        )
        storage = RedisStorage(
            f"async+{redis_url}",
            implementation="redispy",
            connection_pool=pool,  # type: ignore[arg-type]  # passed on to redis-py as is
        )
        self.limiter = MovingWindowRateLimiter(storage)

    async def spend(self, kind: PrincipalKind, who: str) -> None:
        budget = self.budgets[kind]
        try:
            allowed = await self.limiter.hit(budget, "graphql", who)
        except Exception:
            # Counting needs Redis; points do not. While Redis is away, serve uncounted rather
            # than refuse every request (logged, so the gap is visible).
            log.warning("rate limit not counted: Redis unavailable", exc_info=True)
            return
        if not allowed:
            # Raised before execution starts, where only a GraphQLError keeps its code.
            raise GraphQLError(
                f"too many requests: the limit for this caller is {budget}; retry shortly",
                extensions={"code": ErrorCode.RATE_LIMITED.value},
            )


class RateLimit(SchemaExtension):
    """Refuses an operation (``RATE_LIMITED``) once its caller has used up its budget."""

    def __init__(self, budgets: PrincipalBudgets) -> None:
        self.budgets = budgets

    async def on_operation(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            principal = context.principal
            await self.budgets.spend(principal.kind, principal.name or "anonymous")
        yield
