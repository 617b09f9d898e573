"""A member's standing, read once the operation is known (app/auth/standing.py).

The HTTP layer leaves a member token's standing unread (``Principal.standing_pending``); the
pipeline (app/graphql/core/pipeline.py) reads it after validation, before anything executes —
as the HTTP layer did before parsing, the same one read, with a closed or unknown member
answered ``UNAUTHENTICATED`` (HTTP 401) and nothing run. One kind of operation is let through
unread: a mutation whose every field was declared ``gate_first`` (``placeRedemption``). Its use
case may refuse without the database (a flash sale's Redis gate refuses most of a rush), and
reads the standing itself —
:meth:`app.graphql.core.mutations.Call.settle_standing` — before its first database access.
A refused flash buyer so costs no database round trip at all.

A member's query that may show a balance reads the balance in the standing's statement, when
every balance is read from the primary anyway (no replica configured): ``me { balance }`` is
then one statement on one connection, not two on two (docs/DECISIONS.md, "The write path").
With replicas the balance keeps its own read, routed to a fresh replica (app/replicas.py).
"""

from __future__ import annotations

from graphql import DocumentNode, FieldNode, GraphQLError, OperationType
from graphql.utilities import get_operation_ast
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType as StrawberryOperationType

from app.errors import DomainError
from app.graphql.core.context import Context

# The mutations whose use case may refuse before reading the caller's standing (filled by
# ``mutation(..., gate_first=True)``).
GATE_FIRST: set[str] = set()


def gate_first(document: DocumentNode, operation_name: str | None) -> bool:
    """Every root field of this operation is a gate-first mutation (no alias tricks matter:
    the field's name decides; a fragment at the root does not qualify)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.MUTATION:
        return False
    fields = operation.selection_set.selections
    return bool(fields) and all(
        isinstance(field, FieldNode) and field.name.value in GATE_FIRST for field in fields
    )


def balance_with_standing(execution: ExecutionContext) -> bool:
    """Read the balance with the standing: a query (a mutation's balance must follow its write),
    with no replica to send the balance to, whose text names a ``balance`` field. The text test
    is a cheap over-approximation — a false hit (``balanceAfter``) costs PostgreSQL an index
    look-up on the account, never a wrong answer: the loader is primed with the balance as of
    this request, as it would have read it."""
    context = execution.context
    return (
        isinstance(context, Context)
        and context.runtime.replicas is None
        and "balance" in (execution.query or "")
        and execution.graphql_document is not None
        and execution.operation_type is StrawberryOperationType.QUERY
    )


async def settle_member_standing(execution: ExecutionContext) -> None:
    """Before anything executes (a step of app/graphql/core/pipeline.py): a member's standing,
    as the HTTP layer once read it first, unless every root field is gate-first."""
    context = execution.context
    if (
        isinstance(context, Context)
        and context.principal.standing_pending
        and not (
            execution.graphql_document is not None
            and gate_first(execution.graphql_document, execution.operation_name)
        )
    ):
        try:
            await context.settle_standing(with_balance=balance_with_standing(execution))
        except DomainError as error:
            # Raised before execution starts, where only a GraphQLError keeps its code.
            raise GraphQLError(error.message, extensions={"code": error.code.value}) from None
