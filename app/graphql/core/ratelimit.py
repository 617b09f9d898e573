"""Per-principal request budgets, counted in Redis so that every replica shares them.

An operation spends what it does (:func:`app.graphql.core.cost.operation_work`): each mutation field
counts, so thirty aliased donations in one request spend thirty. The check runs once the document
is parsed and validated (``on_execute``); a refusal is a GraphQL error with the code
``RATE_LIMITED`` and ``extensions.retryAfter`` (seconds), which the HTTP view turns into a 429
with ``Retry-After`` and a WebSocket sends as the operation's error.
"""

from __future__ import annotations

from graphql import GraphQLError
from limits import RateLimitItem, parse
from strawberry.types import ExecutionContext

from app import metrics
from app.auth.principal import PrincipalKind
from app.config import Settings
from app.errors import ErrorCode
from app.graphql.core.context import Context
from app.graphql.core.cost import operation_work
from app.limiting import moving_window, retry_after
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
            PrincipalKind.WIDGET: parse(settings.rate_limit_widget),
        }
        self.limiter = moving_window(settings, redis_url)

    async def spend(self, kind: PrincipalKind, who: str, work: int = 1) -> None:
        budget = self.budgets[kind]
        try:
            allowed = await self.limiter.hit(budget, "graphql", who, cost=work)
            wait = 0 if allowed else await retry_after(self.limiter, budget, "graphql", who)
        except Exception:
            # Counting needs Redis; points do not. While Redis is away, serve uncounted rather
            # than refuse every request (logged, so the gap is visible).
            log.warning("rate limit not counted: Redis unavailable", exc_info=True)
            metrics.redis_errors.labels("rate_limit").inc()
            return
        if not allowed:
            metrics.rate_limited.labels(kind.value).inc()
            # Raised before execution starts, where only a GraphQLError keeps its code.
            raise GraphQLError(
                f"too many requests: the limit for this caller is {budget} and this operation "
                f"counts {work}; retry in {wait} s",
                extensions={"code": ErrorCode.RATE_LIMITED.value, "retryAfter": wait},
            )


async def spend_budget(budgets: PrincipalBudgets, execution: ExecutionContext) -> None:
    """Refuses the operation (``RATE_LIMITED``) once its caller has used up its budget.

    After validation (a step of app/graphql/core/pipeline.py): the document is known (and
    valid), so its work can be counted. An error raised there is answered as the operation's
    error on every transport, where one raised before validation escaped a WebSocket operation
    as a logged traceback."""
    context = execution.context
    if isinstance(context, Context) and execution.graphql_document is not None:
        principal = context.principal
        work = operation_work(execution.graphql_document, execution.operation_name)
        await budgets.spend(principal.kind, principal.name or "anonymous", work)
