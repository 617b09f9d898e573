"""The analytics mutations; analytics' share of the Mutation type."""

from __future__ import annotations

import strawberry

from app.graphql.analytics.mutations.acknowledge_alert import acknowledge_alert
from app.graphql.analytics.mutations.set_point_value import set_point_value


@strawberry.type
class AnalyticsMutations:
    set_point_value = set_point_value
    acknowledge_alert = acknowledge_alert
