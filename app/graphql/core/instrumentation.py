"""Per-operation metrics and the access log line (docs/OPERATIONS.md).

One :class:`OperationMeter` per operation (held by app/graphql/core/pipeline.py) measures it
from start to answer, counts it by name, type and outcome, and writes the one access line of the
request. The outcome is the
code of the first error (RATE_LIMITED, GRAPHQL_VALIDATION_FAILED, INTERNAL_SERVER_ERROR, a domain
code...), or of a refused mutation's ``MutationError`` payload, or ``OK``.

Operation names come from clients: past :data:`MAX_OPERATION_NAMES` distinct names a process
counts the rest as ``other``, so that a client inventing names cannot grow the metrics without
bound.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

from graphql import GraphQLError, OperationDefinitionNode, OperationType, get_operation_ast
from strawberry.types import ExecutionContext

from app import metrics
from app.errors import DomainError, ErrorCode
from app.graphql.core.context import Context
from app.graphql.core.errors import QUERY_REJECTED, refusals
from app.logging import get_logger

OK = "OK"
MAX_OPERATION_NAMES = 200
UNPARSED = "unparsed"  # a document that did not parse has no operation, hence no name

log = get_logger("app.access")
_access_lines = logging.getLogger("app.access")

_names_seen: set[str] = set()


def _bounded(name: str) -> str:
    if name in _names_seen:
        return name
    if len(_names_seen) >= MAX_OPERATION_NAMES:
        return "other"
    _names_seen.add(name)
    return name


class OperationMeter:
    """Counts and times one operation; one access log line per query or mutation."""

    def __init__(self, execution_context: ExecutionContext) -> None:
        self.execution_context = execution_context
        self.subscription_field: str | None = None

    @contextlib.contextmanager
    def measuring(self) -> Iterator[None]:
        """Around the whole operation: it sees the errors as the error masking left them."""
        started = time.perf_counter()
        refused: list[ErrorCode] = []
        token = refusals.set(refused)
        try:
            yield
        finally:
            # A subscription ended by its socket's close is finalised by the garbage collector in
            # another context, where the token cannot be reset (and its own context is gone).
            with contextlib.suppress(ValueError):
                refusals.reset(token)
            self._record(time.perf_counter() - started, refused)

    def executing(self) -> None:
        operation = self._operation()
        if operation is not None and operation.operation is OperationType.SUBSCRIPTION:
            self.subscription_field = _root_field(operation)
            metrics.subscriptions_active.labels(self.subscription_field).inc()

    def streamed(self) -> None:
        if self.subscription_field is not None:
            metrics.subscription_messages.labels(self.subscription_field).inc()

    def _operation(self) -> OperationDefinitionNode | None:
        document = self.execution_context.graphql_document
        if document is None:
            return None
        return get_operation_ast(document, self.execution_context.operation_name)

    def _record(self, seconds: float, refused: list[ErrorCode]) -> None:
        operation = self._operation()
        name = _bounded(operation.name.value if operation and operation.name else "anonymous")
        kind = operation.operation.value if operation is not None else UNPARSED
        if operation is None:
            name = UNPARSED
        outcome = self._outcome(operation, refused)
        metrics.graphql_operations.labels(name, kind, outcome).inc()
        if self.subscription_field is not None:
            metrics.subscriptions_active.labels(self.subscription_field).dec()
        else:
            metrics.graphql_duration.labels(name, kind).observe(seconds)
        if not _access_lines.isEnabledFor(logging.INFO):
            return  # structlog would build the event only to drop it: on every request
        context = self.execution_context.context
        principal = context.principal.kind.value if isinstance(context, Context) else "unknown"
        log.info(
            "graphql",
            operation=name,
            type=kind,
            principal=principal,
            outcome=outcome,
            ms=round(seconds * 1000, 1),
        )

    def _outcome(self, operation: OperationDefinitionNode | None, refused: list[ErrorCode]) -> str:
        context = self.execution_context
        # The result's errors are the masked ones (with their codes); pre-execution errors are
        # there too when nothing executed.
        result_errors = context.result.errors if context.result is not None else None
        errors: list[GraphQLError] = result_errors or context.pre_execution_errors or []
        if errors:
            return _code(errors[0])
        if operation is None:
            return QUERY_REJECTED  # a syntax error: answered after the extensions ran
        return refused[0].value if refused else OK


def _code(error: GraphQLError) -> str:
    code = (error.extensions or {}).get("code")
    if code:
        return str(code)
    if isinstance(error.original_error, DomainError):
        return error.original_error.code.value
    return "INTERNAL_SERVER_ERROR"


def _root_field(operation: OperationDefinitionNode) -> str:
    for selection in operation.selection_set.selections:
        name = getattr(selection, "name", None)
        if name is not None:
            return str(name.value)
    return "unknown"
