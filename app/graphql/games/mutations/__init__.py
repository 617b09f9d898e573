"""The games' mutations, one a module; the games' share of the Mutation type."""

from __future__ import annotations

import strawberry

from app.graphql.games.mutations.accept_duel import accept_duel
from app.graphql.games.mutations.challenge_duel import challenge_duel
from app.graphql.games.mutations.create_auction import create_auction
from app.graphql.games.mutations.create_campaign import create_campaign
from app.graphql.games.mutations.create_quest import create_quest
from app.graphql.games.mutations.decline_duel import decline_duel
from app.graphql.games.mutations.place_bid import place_bid
from app.graphql.games.mutations.pledge_points import pledge_points
from app.graphql.games.mutations.save_duel_rules import save_duel_rules
from app.graphql.games.mutations.withdraw_pledge import withdraw_pledge


@strawberry.type
class GameMutations:
    create_auction = create_auction
    place_bid = place_bid
    create_campaign = create_campaign
    pledge_points = pledge_points
    withdraw_pledge = withdraw_pledge
    save_duel_rules = save_duel_rules
    challenge_duel = challenge_duel
    accept_duel = accept_duel
    decline_duel = decline_duel
    create_quest = create_quest
