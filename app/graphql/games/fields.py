"""The fields every game has in the API, made once: its list (open or all), one by id, a
member's stakes in it, and the game live. Each game's module names its own fields with these
(queries.py, subscriptions.py)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any

import strawberry
from strawberry.types.field import StrawberryField

from app.errors import DomainError, ErrorCode, not_found
from app.games.lifecycle import GameApi
from app.graphql.core.context import Info
from app.graphql.core.inputs import parse_id
from app.graphql.core.pagination import page_size
from app.graphql.core.subscriptions import state_on_change


def typed(resolve: Callable[..., Any], *, ret: Any, **arguments: Any) -> None:
    """The resolver's real annotations: strawberry reads the node type from them, which
    differs for each game."""
    resolve.__annotations__ = {"info": Info, **arguments, "return": ret}


async def read_one(
    info: Info, operation: str, raw_id: strawberry.ID, api: GameApi[Any, Any]
) -> Any:
    """A game by id, for anyone signed in who may call ``operation`` (None if there is none)."""
    ctx = info.context
    ctx.require(operation)
    try:
        return await api.get(ctx.runtime, parse_id(str(raw_id), "id"))
    except DomainError as error:
        if error.code is not ErrorCode.NOT_FOUND:
            raise
        return None


def games_field(
    description: str, operation: str, api: GameApi[Any, Any], node: Any
) -> StrawberryField:
    """``operation(openOnly, first)``: the games, soonest end first."""

    async def resolve(info: Info, open_only: bool = True, first: int | None = None) -> Any:
        ctx = info.context
        ctx.require(operation)
        size = page_size(first, ctx.runtime.settings.page_size_cap)
        found = await api.listing(ctx.runtime, open_only=open_only, first=size)
        return [node.of(game) for game in found]

    typed(resolve, open_only=bool, first=int | None, ret=list[node])
    return strawberry.field(resolve, name=operation, description=description)


def game_field(
    description: str, operation: str, api: GameApi[Any, Any], node: Any
) -> StrawberryField:
    """``operation(id)``: one game, null for an unknown id."""

    async def resolve(info: Info, id: strawberry.ID) -> Any:
        found = await read_one(info, operation, id, api)
        return None if found is None else node.of(found)

    typed(resolve, id=strawberry.ID, ret=node | None)
    return strawberry.field(resolve, name=operation, description=description)


def stakes_field(
    description: str, operation: str, api: GameApi[Any, Any], node: Any
) -> StrawberryField:
    """``operation(memberId, first)``: a member's stakes, newest first."""

    async def resolve(info: Info, member_id: strawberry.ID, first: int | None = None) -> Any:
        ctx = info.context
        ctx.require(operation)
        member = parse_id(member_id, "memberId")
        await ctx.readable_member(operation, member)
        size = page_size(first, ctx.runtime.settings.page_size_cap)
        return [node.of(s) for s in await api.stakes_of(ctx.runtime, member, first=size)]

    typed(resolve, member_id=strawberry.ID, first=int | None, ret=list[node])
    return strawberry.field(resolve, name=operation, description=description)


def live_field(
    description: str, operation: str, api: GameApi[Any, Any], node: Any
) -> StrawberryField:
    """``operation(id)``, a subscription: the game now, then re-read after every burst of its
    change signals."""
    topic: Callable[[int], str] = api.service.game.topic

    async def resolve(info: Info, id: strawberry.ID) -> AsyncGenerator[Any, None]:
        ctx = info.context
        ident = parse_id(str(id), "id")

        async def read() -> Any:
            ctx.renew_loaders()  # names read afresh for each frame
            found = await read_one(info, operation, id, api)
            if found is None:
                raise not_found(operation.removeprefix("live").lower(), ident, "id")
            return node.of(found)

        async for current in state_on_change(ctx, topic(ident), read):
            yield current

    typed(resolve, id=strawberry.ID, ret=AsyncGenerator[node, None])
    return strawberry.subscription(resolve, name=operation, description=description)
