"""A member's standing, read once the operation is known (app/auth/standing.py).

The HTTP layer leaves a member token's standing unread (``Principal.standing_pending``); the
pipeline (app/graphql/core/pipeline.py) reads it after validation, before anything executes —
as the HTTP layer did before parsing, the same one read, with a closed or unknown member
answered ``UNAUTHENTICATED`` (HTTP 401) and nothing run. An operation whose every root field
reads the standing itself is let through unread, of two kinds:

- ``gate_first`` (``placeRedemption``): its use case may refuse without the database (a flash
  sale's Redis gate refuses most of a rush), and reads the standing —
  :meth:`app.graphql.core.mutations.Call.settle_standing` — before its first database access.
  A refused flash buyer so costs no database round trip at all.
- ``status_under_lock`` (``checkIn``): its statement reads the member's status under the
  account's lock and goes ahead for an active member only (migration 0042). When it declines,
  or the mutation is refused before it, the standing is read then
  (:meth:`~app.graphql.core.mutations.Call.settle_standing_as_if_first`) and answers as if read
  first: a closed or unknown member's refusal is noted on the context and answers the whole
  operation once it has executed (:func:`answer_late_standing_refusal`), as the read before it
  would have (HTTP 401, no data), a frozen member's is the mutation's ``MEMBER_NOT_ACTIVE``.
  A check-in so costs one round trip, not two.

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

# The mutations that read the caller's standing themselves (see the module's docstring), filled
# by ``mutation(..., gate_first=True)`` and ``mutation(..., status_under_lock=True)``.
GATE_FIRST: set[str] = set()
STATUS_UNDER_LOCK: set[str] = set()


def reads_its_own_standing(document: DocumentNode, operation_name: str | None) -> bool:
    """Every root field of this operation is a mutation that reads the standing itself (no
    alias tricks matter: the field's name decides; a fragment at the root does not qualify)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.MUTATION:
        return False
    fields = operation.selection_set.selections
    return bool(fields) and all(
        isinstance(field, FieldNode)
        and (field.name.value in GATE_FIRST or field.name.value in STATUS_UNDER_LOCK)
        for field in fields
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
    as the HTTP layer once read it first, unless every root field reads it itself."""
    context = execution.context
    if (
        isinstance(context, Context)
        and context.principal.standing_pending
        and not (
            execution.graphql_document is not None
            and reads_its_own_standing(execution.graphql_document, execution.operation_name)
        )
    ):
        try:
            await context.settle_standing(with_balance=balance_with_standing(execution))
        except DomainError as error:
            raise _whole_operation_refused(error) from None


def answer_late_standing_refusal(execution: ExecutionContext) -> None:
    """Once the operation has executed (a step of app/graphql/core/pipeline.py): the standing
    refusal a ``status_under_lock`` mutation noted answers the whole operation instead of its
    result — as :func:`settle_member_standing` would have answered before it (HTTP 401)."""
    context = execution.context
    if isinstance(context, Context) and context.standing_refused is not None:
        raise _whole_operation_refused(context.standing_refused)


def _whole_operation_refused(error: DomainError) -> GraphQLError:
    # Raised by the pipeline around execution, where only a GraphQLError keeps its code.
    return GraphQLError(error.message, extensions={"code": error.code.value})
