"""The games' mutations, one a module; the games' share of the Mutation type."""

from __future__ import annotations

import strawberry

from app.graphql.games.mutations.create_auction import create_auction
from app.graphql.games.mutations.create_campaign import create_campaign
from app.graphql.games.mutations.place_bid import place_bid
from app.graphql.games.mutations.pledge_points import pledge_points
from app.graphql.games.mutations.withdraw_pledge import withdraw_pledge


@strawberry.type
class GameMutations:
    create_auction = create_auction
    place_bid = place_bid
    create_campaign = create_campaign
    pledge_points = pledge_points
    withdraw_pledge = withdraw_pledge
