"""addCouponCodes: upload partner voucher codes to a pool item."""

from __future__ import annotations

from app.graphql.core.inputs import parse_id
from app.graphql.core.mutations import Call, mutation
from app.graphql.mall.inputs import AddCouponCodesInput
from app.graphql.mall.resolvers import item_node
from app.graphql.mall.types import CouponCodesAdded
from app.mall import catalogue


@mutation("Upload partner voucher codes to a pool item (staff); each is a unit.")
async def add_coupon_codes(call: Call, input: AddCouponCodesInput) -> CouponCodesAdded:
    item_id = parse_id(input.item_id, "itemId")
    added = await catalogue.add_coupon_codes(call.runtime, item_id, input.codes)
    item = await catalogue.get_item(call.runtime, item_id)
    return CouponCodesAdded(added=added, item=item_node(call.ctx, item))
