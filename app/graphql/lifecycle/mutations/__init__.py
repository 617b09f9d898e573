"""The lifecycle mutations, one a module; the lifecycle's share of the Mutation type."""

from __future__ import annotations

import strawberry

from app.graphql.lifecycle.mutations.exchange_points import exchange_points
from app.graphql.lifecycle.mutations.gift_points import gift_points
from app.graphql.lifecycle.mutations.mark_notifications_read import mark_notifications_read
from app.graphql.lifecycle.mutations.save_exchange_partner import save_exchange_partner


@strawberry.type
class LifecycleMutations:
    mark_notifications_read = mark_notifications_read
    gift_points = gift_points
    save_exchange_partner = save_exchange_partner
    exchange_points = exchange_points
