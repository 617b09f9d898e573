"""Typed errors: the ``MutationError`` payload member, and masking of unexpected exceptions.

Mutations return ``Success | MutationError`` unions, so a refused request is data with a stable
``code``. Queries cannot do that without wrapping every field, so a refused query (a
:class:`DomainError` raised in a resolver) becomes a GraphQL error whose
``extensions.code`` is the same code. Anything else is masked: the client sees an error id,
the log has the exception under that id.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TypeVar

import strawberry
from graphql.error import GraphQLError
from sqlalchemy.exc import DBAPIError
from strawberry.extensions import MaskErrors

from app.db import CommitInDoubt, unavailable
from app.errors import DomainError, ErrorCode

log = logging.getLogger("app.graphql")

# Registers the domain enum with GraphQL (returns the same class, so it annotates as itself).
strawberry.enum(ErrorCode, name="ErrorCode")

# Validation and syntax errors (including the depth, alias and token limits) are the client's
# own query: they are shown as they are, with this code.
QUERY_REJECTED = "GRAPHQL_VALIDATION_FAILED"

# The codes of the MutationErrors the running operation answered with, for its metrics and
# access line (app/graphql/core/instrumentation.py sets a list per operation; resolvers run in tasks
# with copies of the context, and the copies share the list).
refusals: ContextVar[list[ErrorCode] | None] = ContextVar("jifen_refusals", default=None)


@strawberry.type(description="A refused request: nothing was written.")
class MutationError:
    code: ErrorCode
    message: str
    field: str | None = strawberry.field(
        default=None, description="The input field at fault, when there is one."
    )


def mutation_error(error: DomainError) -> MutationError:
    return MutationError(code=error.code, message=error.message, field=error.field)


T = TypeVar("T")


async def refusal_as_payload(
    run: Callable[[], Awaitable[T]],
) -> T | MutationError:
    """Run a mutation's body; a DomainError becomes the MutationError member of its union."""
    try:
        return await run()
    except DomainError as error:
        noted = refusals.get()
        if noted is not None:
            noted.append(error.code)
        return mutation_error(error)
    except (DBAPIError, OSError, CommitInDoubt) as error:
        refusal = unavailable(error)  # a write cut off by a database fault: retry with its key
        if refusal is None:
            raise
        log.warning("database fault in a mutation: %s", error)
        return mutation_error(refusal)


class JifenMaskErrors(MaskErrors):
    """Domain errors keep their code, query errors stay readable, the rest is masked."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda _: True, error_message="Unexpected error")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if original is None or isinstance(original, GraphQLError):
            return _with_code(error, QUERY_REJECTED)
        if isinstance(original, DomainError):
            extensions: dict[str, object] = {"code": original.code.value}
            if original.field:
                extensions["field"] = original.field
            return _copy(error, original.message, extensions)
        refusal = unavailable(original)
        if refusal is not None:  # a database fault, not a bug: no traceback, a code to retry on
            log.warning("database fault in %s: %s", _path(error), original)
            return _copy(error, refusal.message, {"code": refusal.code.value})
        error_id = uuid.uuid4().hex[:12]
        log.error(
            "unexpected error %s in %s",
            error_id,
            _path(error),
            exc_info=original,
        )
        return _copy(
            error,
            f"{self.error_message} (error id {error_id})",
            {"code": "INTERNAL_SERVER_ERROR", "errorId": error_id},
        )


def _path(error: GraphQLError) -> str:
    return ".".join(map(str, error.path or []))


def _with_code(error: GraphQLError, code: str) -> GraphQLError:
    extensions = dict(error.extensions or {})
    extensions.setdefault("code", code)
    return _copy(error, error.message, extensions)


def _copy(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
    return GraphQLError(
        message=message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )
