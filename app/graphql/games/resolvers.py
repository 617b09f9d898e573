"""What the games' mutations share: the spec a staff input describes, and taking part (a bid,
a pledge, a withdrawal) on the member the input names."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import fields
from typing import Any, TypeVar

from app.games.lifecycle import Taken
from app.graphql.core.inputs import parse_id
from app.graphql.core.mutations import Call
from app.graphql.ledger.resolvers import balance_after_write
from app.graphql.ledger.types import BalanceNode

Spec = TypeVar("Spec")


def spec_of(kind: type[Spec], input: Any, **ids: str) -> Spec:
    """The domain's spec from a staff input of the same field names; ``ids``: the fields that
    are GraphQL ids, parsed (an input field ``itemId`` is blamed for a bad one)."""
    values = {f.name: getattr(input, f.name) for f in fields(kind)}  # type: ignore[arg-type]
    for name, field in ids.items():
        values[name] = parse_id(str(values[name]), field)
    return kind(**values)


async def take_part(
    call: Call,
    input: Any,
    game: str,
    take: Callable[..., Awaitable[Taken[Any, Any]]],
    **request: int,
) -> tuple[Taken[Any, Any], BalanceNode]:
    """``take`` for the member the input names (once the caller may act on it) in the game
    ``<game>_id`` names; its answer and the member's balance after it."""
    member = await call.member(input.member_id)
    taken = await take(
        call.runtime,
        call.actor,
        member_id=member,
        **{f"{game}_id": parse_id(str(getattr(input, f"{game}_id")), f"{game}Id")},
        idempotency_key=input.idempotency_key,
        **request,
    )
    return taken, await balance_after_write(call.ctx, member)
