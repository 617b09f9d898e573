"""The request context: the runtime, who is asking, and this request's DataLoaders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias

import strawberry
from starlette.requests import Request
from starlette.websockets import WebSocket

from app.auth.permissions import Subject, require, require_on, require_on_target
from app.auth.principal import Principal, PrincipalKind
from app.auth.standing import in_standing
from app.errors import DomainError, ErrorCode, not_found
from app.graphql.core.dataloaders import Loaders
from app.members.models import Member
from app.runtime import Runtime


@dataclass
class Context:
    runtime: Runtime
    principal: Principal
    request: Request | WebSocket | None = None
    # Filled by Strawberry from a WebSocket's connection_init payload.
    connection_params: dict[str, Any] | None = None
    loaders: Loaders = field(init=False)
    # A closed or unknown member found by a ``status_under_lock`` mutation, after execution
    # began: it answers the whole operation (app/graphql/core/standing.py).
    standing_refused: DomainError | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.runtime)

    @classmethod
    def of_request(cls, runtime: Runtime, principal: Principal, request: Request) -> Context:
        """An HTTP request's context: the member row read at authentication primes the member
        loader (``me`` reads it no second time, from the primary, as fresh as any replica), then
        leaves the principal so nothing holds it past this request."""
        context = cls(runtime=runtime, principal=principal, request=request)
        context._take_rows()
        return context

    async def settle_standing(self, *, with_balance: bool = False) -> None:
        """Read the member's standing the HTTP layer left for later (app/auth/standing.py):
        UNAUTHENTICATED for a closed or unknown member, read-only for a frozen one. Its row
        primes the member loader, as at authentication; ``with_balance``, its balance read in
        the same statement primes the balance loader."""
        if not self.principal.standing_pending:
            return
        self.principal = await in_standing(self.runtime, self.principal, with_balance=with_balance)
        self._take_rows()

    def _take_rows(self) -> None:
        """Prime this request's loaders with what the standing read, and drop it from the
        principal, so nothing holds it past this request."""
        principal = self.principal
        member = principal.member_row
        if member is None:
            return
        self.loaders.member.prime(member.id, member)
        if principal.member_balance is not None:
            self.loaders.balance.prime(member.id, principal.member_balance)
        self.principal = replace(principal, member_row=None, member_balance=None)

    def renew_loaders(self) -> None:
        """A subscription lives long: give each event fresh loaders so it never reads stale."""
        self.loaders = Loaders(self.runtime)

    # -- permission helpers: resolvers call these before touching a use case ------------------

    def require(self, operation: str) -> None:
        require(self.principal, operation)

    async def member_subject(self, member_id: int) -> Subject:
        # Only partners are limited by channel: skip the look-up for everyone else.
        channels: frozenset[str] = frozenset()
        if self.principal.kind is PrincipalKind.PARTNER:
            refs = await self.loaders.channel_refs.load(member_id)
            channels = frozenset(ref.channel for ref in refs)
        return Subject(member_id=member_id, channels=channels)

    async def require_on_member(self, operation: str, member_id: int) -> None:
        require(self.principal, operation)
        require_on(self.principal, operation, await self.member_subject(member_id))

    def require_on_channel(
        self, operation: str, channel: str, member_id: int | None = None
    ) -> None:
        require_on(self.principal, operation, Subject(member_id, frozenset({channel})))

    async def require_on_target(
        self,
        operation: str,
        ident: int,
        field: str,
        subject_of: Callable[[], Awaitable[Subject]],
    ) -> None:
        """An operation on one thing named by id (a hold, an order…): ``subject_of`` loads whose
        it is. A member or partner gets the same NOT_FOUND whether the thing does not exist or is
        not theirs; staff skip the look-up (the use case answers NOT_FOUND itself)."""
        require(self.principal, operation)
        if self.principal.kind is PrincipalKind.STAFF:
            return
        subject: Subject | None
        try:
            subject = await subject_of()
        except DomainError as error:
            if error.code is not ErrorCode.NOT_FOUND:
                raise
            subject = None
        require_on_target(self.principal, operation, subject, ident, field)

    async def readable_member(self, operation: str, member_id: int) -> Member:
        """The member, once the caller may read it; NOT_FOUND only after the check, so a
        refused caller learns nothing about which ids exist."""
        await self.require_on_member(operation, member_id)
        member = await self.loaders.member.load(member_id)
        if member is None:
            raise not_found("member", member_id, "id")
        return member


Info: TypeAlias = strawberry.Info[Context, None]
