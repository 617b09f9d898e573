"""The points price a member sees and pays for an item: the item's own, or its experiment
variant's (app/earning/hooks.py, POINTS_OVERRIDES; docs/EXPERIMENTS.md, "Task rewards and mall
prices"). The catalogue's offers, a redemption quote and the redemption itself all price an
item through :func:`priced_for`, so the member pays exactly what it was shown.

What decides it — the experiments' generation and the member's segment — is read in the
statement that reads the item anyway (``Catalogue.priced``): with no experiment overriding an
item's price running, pricing costs no statement of its own.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.earning.hooks import POINTS_OVERRIDES, PointsChoice
from app.mall.policy import Item
from app.segments.tables import member_segments

ITEM_PRICE = "item_price"


def _segment() -> Any:
    return (
        select(member_segments.c.segment)
        .where(member_segments.c.member_id == bindparam("member_id", type_=BigInteger))
        .scalar_subquery()
    )


@cache
def _context_query() -> Any:
    # Built at first use, after experiments provided the override (app.tables imports it).
    return select(*price_columns())


def price_columns() -> tuple[Any, ...]:
    """Columns to read with an item, for the member bound as ``member_id``: what decides its
    price (the experiments' generation and the member's segment), at no round trip."""
    return (POINTS_OVERRIDES.generation().label("variants"), _segment().label("segment"))


async def priced_for(
    conn: AsyncConnection, items: list[Item], member_id: int, now: datetime
) -> list[Item]:
    """The catalogue's items as the member would pay for them. Browsing assigns no one (a
    preview: the variant the member would be placed in, deterministic, so the price shown is
    the one it pays)."""
    if not items:
        return items
    context = (await conn.execute(_context_query(), {"member_id": member_id})).one()
    return [await priced(conn, item, member_id, context, now, assign=False) for item in items]


async def priced(
    conn: AsyncConnection, item: Item, member_id: int, context: Any, now: datetime, *, assign: bool
) -> Item:
    chosen = await POINTS_OVERRIDES(
        conn,
        PointsChoice(
            kind=ITEM_PRICE,
            code=item.code,
            programme=item.points_price,
            member_id=member_id,
            segment=context.segment,
            generation=context.variants,
            now=now,
            assign=assign,
        ),
    )
    if chosen.points == item.points_price:
        return item
    return replace(item, points_price=chosen.points)
