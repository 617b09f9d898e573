"""GraphQL's part in read replicas (app/replicas.py): a query's reads may go to a replica, a
mutation's never; after a mutation, its writes are marked for the caller and the members it
named, so that their next reads see them (read-your-writes)."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress

from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from app.auth.principal import Principal, PrincipalKind
from app.graphql.core.context import Context
from app.replicas import enter_replica_reads, leave_replica_reads, member_key
from app.runtime import Runtime


def principal_key(principal: Principal) -> str | None:
    """Whose writes a principal must see: its own (a member's are its member's)."""
    match principal.kind:
        case PrincipalKind.MEMBER:
            return member_key(principal.member_id or 0)
        case PrincipalKind.STAFF:
            return f"staff:{principal.staff_name}"
        case PrincipalKind.PARTNER:
            return f"partner:{principal.partner}:{principal.channel}"
        case _:  # widgets and anonymous callers write nothing
            return None


def _keys(principal: Principal) -> list[str]:
    key = principal_key(principal)
    return [] if key is None else [key]


def enter_query_reads(execution: ExecutionContext) -> object | None:
    """A query's reads (through ``Runtime.read``) may go to a replica fresh enough for its
    caller; give the token back to :func:`leave_query_reads` once it has run. Subscriptions and
    mutations are left on the primary (a subscription's replay asks for a replica itself,
    app/events/stream.py): None."""
    context = execution.context
    if (
        not isinstance(context, Context)
        or context.runtime.replicas is None
        or execution.operation_type is not OperationType.QUERY
    ):
        return None
    return enter_replica_reads(_keys(context.principal))


def leave_query_reads(token: object | None) -> None:
    if token is not None:
        with suppress(ValueError):  # finalised in another context (see OperationMeter)
            leave_replica_reads(token)


async def remember_write(runtime: Runtime, principal: Principal, members: Iterable[int]) -> None:
    """After a mutation's commit: its caller's and its members' next reads must see it."""
    if runtime.replicas is not None:
        await runtime.replicas.remember_write([*_keys(principal), *map(member_key, members)])
