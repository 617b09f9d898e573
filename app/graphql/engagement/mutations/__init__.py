"""The sign-in mutations, one a module; daily sign-in's share of the Mutation type."""

from __future__ import annotations

import strawberry

from app.graphql.engagement.mutations.check_in import check_in
from app.graphql.engagement.mutations.grant_make_up_cards import grant_make_up_cards
from app.graphql.engagement.mutations.make_up_sign_in import make_up_sign_in
from app.graphql.engagement.mutations.save_sign_in_schedule import save_sign_in_schedule


@strawberry.type
class EngagementMutations:
    check_in = check_in
    make_up_sign_in = make_up_sign_in
    grant_make_up_cards = grant_make_up_cards
    save_sign_in_schedule = save_sign_in_schedule
