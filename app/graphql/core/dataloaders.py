"""Per-request DataLoaders: one statement per kind of read, however many members a query asks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from functools import partial
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from app.errors import not_found
from app.ledger import usecases as ledger
from app.ledger.models import Balance
from app.members import usecases as members
from app.members.models import ChannelRef, Member
from app.runtime import Runtime

K = TypeVar("K")
V = TypeVar("V")
# A domain's batch read (its package's dataloaders.py): the values for these keys, in order.
Batch = Callable[[Runtime, list[K]], Awaitable[Sequence[V | BaseException]]]


class Loaders:
    """Fresh for every request (and every subscription event): caches never outlive it."""

    def __init__(self, rt: Runtime) -> None:
        self.runtime = rt
        self._domain: dict[Any, DataLoader[Any, Any]] = {}
        # Members this request wrote to (forget_member): their next reads, from any process,
        # must see the writes (read replicas, app/graphql/core/replicas.py).
        self.written_members: set[int] = set()

        async def members_batch(ids: list[int]) -> list[Member | None]:
            found = await members.get_members(rt, ids)
            return [found.get(member_id) for member_id in ids]

        async def balances_batch(ids: list[int]) -> list[Balance | BaseException]:
            found = await ledger.get_balances(rt, ids)
            return [found.get(i) or not_found("member", i, "memberId") for i in ids]

        async def refs_batch(ids: list[int]) -> list[list[ChannelRef]]:
            found = await members.list_channel_refs_of(rt, ids)
            return [found[member_id] for member_id in ids]

        self.member: DataLoader[int, Member | None] = DataLoader(load_fn=members_batch)
        self.balance: DataLoader[int, Balance] = DataLoader(load_fn=balances_batch)
        self.channel_refs: DataLoader[int, list[ChannelRef]] = DataLoader(load_fn=refs_batch)

    def of(self, batch: Batch[K, V]) -> DataLoader[K, V]:
        """This request's loader for a domain's ``batch`` read (made on first use), so a
        domain's GraphQL package declares its loaders next to its types, not here."""
        loader = self._domain.get(batch)
        if loader is None:
            loader = self._domain[batch] = DataLoader(load_fn=partial(batch, self.runtime))
        return loader

    def forget_member(self, member_id: int) -> None:
        """After a write to a member: later reads in the same request see the new state."""
        self.written_members.add(member_id)
        # DataLoader.clear raises KeyError for a key it never loaded.
        with suppress(KeyError):
            self.member.clear(member_id)
        with suppress(KeyError):
            self.balance.clear(member_id)
        with suppress(KeyError):
            self.channel_refs.clear(member_id)
