"""The domain's enums as GraphQL knows them (registered once, under their schema names, before
any type or input uses them)."""

from __future__ import annotations

import strawberry

from app.mall.lottery import PoolKind, PrizeKind
from app.mall.policy import CouponSource, Fulfilment, ItemKind, LimitPeriod, OrderStatus

__all__ = [
    "CouponSource",
    "Fulfilment",
    "ItemKind",
    "LimitPeriod",
    "OrderStatus",
    "PoolKind",
    "PrizeKind",
]

strawberry.enum(ItemKind, name="MallItemKind")
strawberry.enum(LimitPeriod, name="LimitPeriod")
strawberry.enum(Fulfilment, name="Fulfilment")
strawberry.enum(CouponSource, name="CouponSource")
strawberry.enum(OrderStatus, name="RedemptionStatus")
strawberry.enum(PoolKind, name="LotteryPoolKind")
strawberry.enum(PrizeKind, name="PrizeKind")
