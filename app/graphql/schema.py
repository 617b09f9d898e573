"""The one schema (the composition root): every domain package under app/graphql/ contributes
its queries, mutations and subscriptions here; the shared machinery is in app/graphql/core/.

``schema.graphql`` at the repository root is ``str(schema)``; a test keeps them equal
(``jifen export-schema`` or ``python -m app.graphql.schema > schema.graphql`` rewrites it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.types import ExecutionContext

from app.config import Settings, get_settings
from app.graphql.analytics.mutations import AnalyticsMutations
from app.graphql.analytics.queries import AnalyticsQueries
from app.graphql.analytics.subscriptions import AnalyticsSubscriptions
from app.graphql.core.boundary import AwareDateTime, BoundedDecimal, RefuseUnstorableStrings
from app.graphql.core.cost import max_cost_rule
from app.graphql.core.fanout import SharedEventExecutor
from app.graphql.core.pipeline import OperationPipeline, Pipeline
from app.graphql.core.ratelimit import PrincipalBudgets
from app.graphql.earning.mutations import EarningMutations
from app.graphql.earning.queries import EarningQueries
from app.graphql.engagement.mutations import EngagementMutations
from app.graphql.engagement.queries import EngagementQueries
from app.graphql.engagement.subscriptions import EngagementSubscriptions
from app.graphql.experiments.mutations import ExperimentMutations
from app.graphql.experiments.queries import ExperimentQueries
from app.graphql.games.mutations import GameMutations
from app.graphql.games.queries import GameQueries
from app.graphql.games.subscriptions import GameSubscriptions
from app.graphql.jobs.mutations import JobMutations
from app.graphql.jobs.queries import JobQueries
from app.graphql.leaderboards.queries import LeaderboardQueries
from app.graphql.leaderboards.subscriptions import LeaderboardSubscriptions
from app.graphql.ledger.mutations import LedgerMutations
from app.graphql.lifecycle.mutations import LifecycleMutations
from app.graphql.lifecycle.queries import LifecycleQueries
from app.graphql.lifecycle.subscriptions import LifecycleSubscriptions
from app.graphql.mall.mutations import MallMutations
from app.graphql.mall.queries import MallQueries
from app.graphql.members.mutations import MemberMutations
from app.graphql.members.queries import MemberQueries
from app.graphql.members.subscriptions import MemberSubscriptions
from app.graphql.referrals.mutations import ReferralMutations
from app.graphql.referrals.queries import ReferralQueries
from app.graphql.segments.mutations import SegmentMutations
from app.graphql.segments.queries import SegmentQueries
from app.graphql.tasks.mutations import TaskMutations
from app.graphql.tasks.queries import TaskQueries
from app.graphql.tasks.subscriptions import TaskSubscriptions
from app.graphql.tiers.mutations import TierMutations
from app.graphql.tiers.queries import TierQueries
from app.graphql.webhooks.mutations import WebhookMutations
from app.graphql.webhooks.queries import WebhookQueries


@strawberry.type
class Query(
    MemberQueries,
    EarningQueries,
    TierQueries,
    LeaderboardQueries,
    EngagementQueries,
    JobQueries,
    LifecycleQueries,
    TaskQueries,
    ReferralQueries,
    MallQueries,
    GameQueries,
    AnalyticsQueries,
    SegmentQueries,
    ExperimentQueries,
    WebhookQueries,
):
    pass


@strawberry.type
class Mutation(
    MemberMutations,
    LedgerMutations,
    EarningMutations,
    TierMutations,
    EngagementMutations,
    JobMutations,
    LifecycleMutations,
    TaskMutations,
    ReferralMutations,
    MallMutations,
    GameMutations,
    AnalyticsMutations,
    SegmentMutations,
    ExperimentMutations,
    WebhookMutations,
):
    pass


@strawberry.type
class Subscription(
    MemberSubscriptions,
    LeaderboardSubscriptions,
    EngagementSubscriptions,
    LifecycleSubscriptions,
    TaskSubscriptions,
    AnalyticsSubscriptions,
    GameSubscriptions,
):
    pass


class JifenSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Strawberry would log every error, refusals included, with a traceback. Refusals are
        # answers, not faults; unexpected errors are logged once, with their error id, by
        # JifenMaskErrors.
        return


def _extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    # Strawberry builds fresh extensions per operation (factories, not instances). The limiters
    # create a new rule class each time they are built, and ValidationCache keys on the rule
    # set: so build the rule classes once and hand every operation the same ones, or the
    # validation cache never hits (measured: 28% of an earn's CPU).
    pipeline = Pipeline(
        limit_rules=(
            *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
            *MaxAliasesLimiter(max_alias_count=settings.max_query_aliases).validation_rules,
            max_cost_rule(settings.max_query_cost),
            RefuseUnstorableStrings,
        ),
        max_tokens=settings.max_query_tokens,
        introspection_anonymous=settings.introspection_anonymous,
        # A schema built only to be printed has nothing to count with.
        budgets=PrincipalBudgets(settings, settings.redis_url) if settings.redis_url else None,
    )
    # One extension for every concern (app/graphql/core/pipeline.py says why).
    return [lambda: OperationPipeline(pipeline)]


def build_schema(settings: Settings) -> strawberry.Schema:
    return JifenSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=_extensions(settings),
        # Decimal inputs are refused at the boundary when no column could hold them, DateTime
        # inputs when they have no offset (a naive time would be read in the server's zone).
        scalar_overrides={Decimal: BoundedDecimal, datetime: AwareDateTime},
        # A subscription event's answer is computed once per process (app/graphql/core/fanout.py).
        execution_context_class=SharedEventExecutor,
    )


schema = build_schema(get_settings())


if __name__ == "__main__":
    print(str(schema))
