"""The one schema extension every GraphQL operation runs through, in this order:

- around the operation: its metrics and access line (app/graphql/core/instrumentation.py), the
  error masking (app/graphql/core/errors.py), the validation rules that limit a document's depth,
  aliases, cost and strings, the token limit, and — for a caller without a credential — the
  refusal of introspection;
- parsing and validation, each through its process-wide LRU cache (Strawberry's ParserCache and
  ValidationCache, inherited: the validation cache keys on the rule set, so every operation gets
  the same rule classes, built once);
- before anything executes: a member's standing (app/graphql/core/standing.py), a query's
  replica reads (app/graphql/core/replicas.py), then the caller's rate budget
  (app/graphql/core/ratelimit.py);
- once it has executed: a member's standing refusal that a mutation found late, in place of its
  result (``status_under_lock``: app/graphql/core/standing.py).

Why one extension and not one per concern: Strawberry builds every extension afresh per
operation and, for each of its four hooks, looks every extension's hook up and wraps it in a
context manager of its own: nine extensions cost ``{ __typename }``'s execution ~150 µs of CPU,
one ~120 µs (docs/PERFORMANCE.md, issue 21's pipeline step 2). The steps keep their modules;
this only orders them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from graphql import ASTValidationRule
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types.execution import StreamExecutionResult

from app.graphql.core.context import Context
from app.graphql.core.errors import JifenMaskErrors
from app.graphql.core.instrumentation import OperationMeter
from app.graphql.core.ratelimit import PrincipalBudgets, spend_budget
from app.graphql.core.replicas import enter_query_reads, leave_query_reads
from app.graphql.core.standing import answer_late_standing_refusal, settle_member_standing


@dataclass(frozen=True)
class Pipeline:
    """What every operation of one schema shares: built once, handed to each operation."""

    limit_rules: tuple[type[ASTValidationRule], ...]
    max_tokens: int
    introspection_anonymous: bool
    budgets: PrincipalBudgets | None  # None: a schema built only to be printed counts nothing


class OperationPipeline(JifenMaskErrors, ParserCache, ValidationCache):
    def __init__(self, pipeline: Pipeline) -> None:
        JifenMaskErrors.__init__(self)
        ParserCache.__init__(self)
        ValidationCache.__init__(self)
        self.pipeline = pipeline

    def on_operation(self) -> Iterator[None]:
        execution = self.execution_context
        self.meter = OperationMeter(execution)
        rules = execution.validation_rules
        context = execution.context
        if (
            not self.pipeline.introspection_anonymous
            and isinstance(context, Context)
            and context.principal.is_anonymous
        ):
            # A deep introspection costs CPU and maps the whole API for anyone who asks.
            rules = (*rules, NoSchemaIntrospectionCustomRule)
        execution.validation_rules = (*rules, *self.pipeline.limit_rules)
        execution.parse_options["max_tokens"] = self.pipeline.max_tokens
        with self.meter.measuring():
            # The masking runs once the operation has run, before the meter reads its outcome.
            yield from super().on_operation()

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        self.meter.executing()
        await settle_member_standing(execution)
        reads = enter_query_reads(execution)
        try:
            if self.pipeline.budgets is not None:
                await spend_budget(self.pipeline.budgets, execution)
            yield
            answer_late_standing_refusal(execution)
        finally:
            leave_query_reads(reads)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        self.meter.streamed()
        yield from super().on_stream_result(result)
