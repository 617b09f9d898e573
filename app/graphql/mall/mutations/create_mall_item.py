"""createMallItem: add an item to the catalogue."""

from __future__ import annotations

from app.graphql.core.mutations import Call, mutation
from app.graphql.mall.inputs import CreateMallItemInput
from app.graphql.mall.resolvers import item_node
from app.graphql.mall.types import MallItemPayload
from app.mall import catalogue


@mutation("Add an item to the catalogue (staff).", result="MallItemResult")
async def create_mall_item(call: Call, input: CreateMallItemInput) -> MallItemPayload:
    item = await catalogue.create_item(call.runtime, call.actor, input.item.spec(), input.stock)
    return MallItemPayload(item=item_node(call.ctx, item))
