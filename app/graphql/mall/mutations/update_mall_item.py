"""updateMallItem: change, restock or withdraw an item."""

from __future__ import annotations

from app.graphql.core.inputs import parse_id
from app.graphql.core.mutations import Call, mutation
from app.graphql.mall.inputs import UpdateMallItemInput
from app.graphql.mall.resolvers import item_node
from app.graphql.mall.types import MallItemPayload
from app.mall import catalogue


@mutation("Change an item, restock it or take it off sale (staff).", result="MallItemResult")
async def update_mall_item(call: Call, input: UpdateMallItemInput) -> MallItemPayload:
    item = await catalogue.update_item(
        call.runtime,
        call.actor,
        parse_id(input.id, "id"),
        input.item.spec(),
        stock_delta=input.stock_delta,
        expected_version=input.expected_version,
    )
    return MallItemPayload(item=item_node(call.ctx, item))
