"""Declaring a mutation: one function from its input to its success payload.

A mutation is written as ``async def earn_points(call: Call, input: EarnPointsInput) ->
PointsPosted`` under :func:`mutation`. The helper gives it what every mutation shares:

* its name in the permission table is its field name (``earnPoints``), checked with
  :func:`app.auth.permissions.require` before the input is read (who may call at all comes before
  what the input says); the :class:`Call` carries the name to the later checks on a member, a
  channel or a target, so no mutation restates it;
* its GraphQL answer is the union ``<Name>Result`` of the payload and :class:`MutationError`
  (or the shared union named by ``result=``): a :class:`DomainError` raised anywhere in the
  body, or a database fault cutting a write off, becomes the ``MutationError`` member.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar, get_type_hints

import strawberry
from strawberry.types.field import StrawberryField
from strawberry.utils.str_converters import to_camel_case

from app.auth.permissions import Subject
from app.errors import DomainError
from app.graphql.core.context import Context, Info
from app.graphql.core.errors import MutationError, refusal_as_payload
from app.graphql.core.inputs import parse_id
from app.graphql.core.replicas import remember_write
from app.graphql.core.standing import GATE_FIRST, STATUS_UNDER_LOCK
from app.ledger.models import Actor
from app.members.models import Member
from app.runtime import Runtime

Input = TypeVar("Input")
Payload = TypeVar("Payload")
Body = Callable[["Call", Input], Awaitable[Payload]]
Owner = Callable[[Context, int], Awaitable[Subject]]

# One union object per name: mutations sharing a result type share the GraphQL union.
_unions: dict[str, tuple[type, Any]] = {}


@dataclass(frozen=True)
class Call:
    """One call of a mutation: the request, and the operation the permission table knows."""

    info: Info
    operation: str
    # The members the input named (checked): their next reads must see this call's writes.
    members: set[int] = field(default_factory=set)

    @property
    def ctx(self) -> Context:
        return self.info.context

    @property
    def runtime(self) -> Runtime:
        return self.ctx.runtime

    @property
    def actor(self) -> Actor:
        return self.ctx.principal.to_actor()

    async def member(self, raw_id: str, field: str = "memberId") -> int:
        """The member id the input names, once the caller may act on that member."""
        member_id = parse_id(str(raw_id), field)
        await self.ctx.require_on_member(self.operation, member_id)
        self.members.add(member_id)
        return member_id

    async def readable_member(self, raw_id: str, field: str = "memberId") -> Member:
        """The member itself (NOT_FOUND after the check when there is none)."""
        member_id = parse_id(str(raw_id), field)
        member = await self.ctx.readable_member(self.operation, member_id)
        self.members.add(member_id)
        return member

    async def channel_member(self, raw_id: str, channel: str) -> int:
        """The member id the input names, once the caller may act in ``channel`` (a partner in
        its own only) and on that member."""
        member_id = parse_id(str(raw_id), "memberId")
        self.on_channel(channel)
        await self.ctx.require_on_member(self.operation, member_id)
        self.members.add(member_id)
        return member_id

    async def settle_standing(self) -> None:
        """For a ``gate_first`` mutation: the caller's standing, read once the use case gets
        past its refusals that need no database, before its first database access; then the
        permission check again (a frozen member: MEMBER_NOT_ACTIVE)."""
        await self.ctx.settle_standing()
        self.ctx.require(self.operation)

    async def settle_standing_as_if_first(self) -> None:
        """For a ``status_under_lock`` mutation, once its statement declined or it was refused
        before it: the caller's standing, answered as if the pipeline had read it first — a
        closed or unknown member's refusal noted for the pipeline to answer the whole operation
        with, a frozen member's MEMBER_NOT_ACTIVE."""
        try:
            await self.ctx.settle_standing()
        except DomainError as error:
            self.ctx.standing_refused = error
            raise
        self.ctx.require(self.operation)

    def on_channel(self, channel: str, member_id: int | None = None) -> None:
        self.ctx.require_on_channel(self.operation, channel, member_id)

    async def target(self, raw_id: str, field: str, owner: Owner) -> int:
        """The id of the one thing (a hold, an order…) the input names, once the caller may act
        on it: NOT_FOUND alike for a missing thing and for someone else's. ``owner`` loads whose
        it is (staff skip the look-up)."""
        ident = parse_id(str(raw_id), field)
        ctx = self.ctx
        await ctx.require_on_target(self.operation, ident, field, lambda: owner(ctx, ident))
        return ident


def mutation(
    description: str,
    *,
    result: str | None = None,
    gate_first: bool = False,
    status_under_lock: bool = False,
) -> Callable[[Body[Input, Payload]], StrawberryField]:
    """Declare ``body`` as the mutation of the same name (see the module's docstring).
    ``gate_first``: the body may refuse before the caller's standing is read, and must call
    :meth:`Call.settle_standing` before touching the database (app/graphql/core/standing.py).
    ``status_under_lock``: the body's statement goes ahead for an active member only, and the
    body calls :meth:`Call.settle_standing_as_if_first` when it declines; a refusal raised
    before the standing was read waits for the standing's own, which comes first."""

    def declare(body: Body[Input, Payload]) -> StrawberryField:
        operation = to_camel_case(body.__name__)
        if gate_first:
            GATE_FIRST.add(operation)
        if status_under_lock:
            STATUS_UNDER_LOCK.add(operation)
        hints = get_type_hints(body)
        input_type, payload = hints["input"], hints["return"]
        answer = result_union(result or f"{operation[0].upper()}{operation[1:]}Result", payload)

        async def resolve(info: Info, input: Any) -> Any:
            call = Call(info, operation)

            async def run() -> Payload:
                call.ctx.require(operation)
                done = await body(call, input)
                written = call.members | call.ctx.loaders.written_members
                await remember_write(call.runtime, call.ctx.principal, written)
                return done

            async def run_standing_first() -> Payload:
                try:
                    return await run()
                except DomainError as error:
                    if error is not call.ctx.standing_refused:  # not the standing's own already
                        await call.settle_standing_as_if_first()  # its refusal comes first
                    raise

            return await refusal_as_payload(run_standing_first if status_under_lock else run)

        resolve.__name__ = body.__name__
        resolve.__doc__ = body.__doc__
        resolve.__annotations__ = {"info": Info, "input": input_type, "return": answer}
        return strawberry.mutation(resolve, name=operation, description=description)

    return declare


def result_union(name: str, payload: type) -> Any:
    """The union ``name`` of ``payload`` and :class:`MutationError`, one object per name (a
    batch's items answer with their single mutation's union)."""
    known = _unions.get(name)
    if known is None:
        union = Annotated[payload | MutationError, strawberry.union(name)]  # type: ignore[valid-type]
        _unions[name] = known = (payload, union)
    if known[0] is not payload:
        raise TypeError(f"{name} is already the result of {known[0].__name__}")
    return known[1]
