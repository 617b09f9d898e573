"""The mutations that move points, one a module; the ledger's share of the Mutation type."""

from __future__ import annotations

import strawberry

from app.graphql.ledger.mutations.adjust_points import adjust_points
from app.graphql.ledger.mutations.commit_hold import commit_hold
from app.graphql.ledger.mutations.earn_points import earn_points
from app.graphql.ledger.mutations.earn_points_batch import earn_points_batch
from app.graphql.ledger.mutations.hold_points import hold_points
from app.graphql.ledger.mutations.reverse_entry import reverse_entry
from app.graphql.ledger.mutations.spend_points import spend_points
from app.graphql.ledger.mutations.void_hold import void_hold


@strawberry.type
class LedgerMutations:
    earn_points = earn_points
    earn_points_batch = earn_points_batch
    spend_points = spend_points
    hold_points = hold_points
    commit_hold = commit_hold
    void_hold = void_hold
    reverse_entry = reverse_entry
    adjust_points = adjust_points
