"""The lifecycle mutations, one a module; the lifecycle's share of the Mutation type."""

from __future__ import annotations

import strawberry

from app.graphql.lifecycle.mutations.exchange_points import exchange_points
from app.graphql.lifecycle.mutations.gift_points import gift_points
from app.graphql.lifecycle.mutations.mark_notifications_read import mark_notifications_read
from app.graphql.lifecycle.mutations.move_expiring_points import move_expiring_points
from app.graphql.lifecycle.mutations.save_exchange_partner import save_exchange_partner
from app.graphql.lifecycle.mutations.spend_bank_pool import spend_bank_pool


@strawberry.type
class LifecycleMutations:
    mark_notifications_read = mark_notifications_read
    gift_points = gift_points
    save_exchange_partner = save_exchange_partner
    exchange_points = exchange_points
    move_expiring_points = move_expiring_points
    spend_bank_pool = spend_bank_pool
