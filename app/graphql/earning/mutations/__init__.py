"""Earning's mutations, one a module; earning's share of the Mutation type."""

from __future__ import annotations

import strawberry

from app.graphql.earning.mutations.create_earning_rule import create_earning_rule
from app.graphql.earning.mutations.record_event import record_event
from app.graphql.earning.mutations.record_purchase import record_purchase
from app.graphql.earning.mutations.record_refund import record_refund
from app.graphql.earning.mutations.set_earning_rule_enabled import set_earning_rule_enabled
from app.graphql.earning.mutations.update_earning_rule import update_earning_rule


@strawberry.type
class EarningMutations:
    create_earning_rule = create_earning_rule
    update_earning_rule = update_earning_rule
    set_earning_rule_enabled = set_earning_rule_enabled
    record_purchase = record_purchase
    record_refund = record_refund
    record_event = record_event
