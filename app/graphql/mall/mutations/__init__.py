"""The mall's mutations, one a module; the mall's share of the Mutation type."""

from __future__ import annotations

import strawberry

from app.graphql.mall.mutations.add_coupon_codes import add_coupon_codes
from app.graphql.mall.mutations.cancel_redemption import cancel_redemption
from app.graphql.mall.mutations.commit_checkout import commit_checkout
from app.graphql.mall.mutations.confirm_redemption import confirm_redemption
from app.graphql.mall.mutations.create_charity import create_charity
from app.graphql.mall.mutations.create_lottery_pool import create_lottery_pool
from app.graphql.mall.mutations.create_mall_item import create_mall_item
from app.graphql.mall.mutations.donate_points import donate_points
from app.graphql.mall.mutations.draw_lottery import draw_lottery
from app.graphql.mall.mutations.fulfil_redemption import fulfil_redemption
from app.graphql.mall.mutations.grant_draw_ticket import grant_draw_ticket
from app.graphql.mall.mutations.hold_checkout_points import hold_checkout_points
from app.graphql.mall.mutations.pay_redemption import pay_redemption
from app.graphql.mall.mutations.place_redemption import place_redemption
from app.graphql.mall.mutations.return_redemption import return_redemption
from app.graphql.mall.mutations.update_mall_item import update_mall_item
from app.graphql.mall.mutations.void_checkout import void_checkout


@strawberry.type
class MallMutations:
    create_mall_item = create_mall_item
    update_mall_item = update_mall_item
    add_coupon_codes = add_coupon_codes
    place_redemption = place_redemption
    confirm_redemption = confirm_redemption
    pay_redemption = pay_redemption
    fulfil_redemption = fulfil_redemption
    cancel_redemption = cancel_redemption
    return_redemption = return_redemption
    hold_checkout_points = hold_checkout_points
    commit_checkout = commit_checkout
    void_checkout = void_checkout
    create_lottery_pool = create_lottery_pool
    draw_lottery = draw_lottery
    grant_draw_ticket = grant_draw_ticket
    create_charity = create_charity
    donate_points = donate_points
