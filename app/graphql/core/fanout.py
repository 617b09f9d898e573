"""One execution per event, not one per subscriber (docs/EVENTS.md, "Fan-out").

graphql-core runs a subscription's selection set once per event *per subscriber*: with 100
subscribers of a member's topic in a process, the same event is resolved and JSON-encoded 100
times, though all of them asked for the same fields and get the same answer. Here a process
resolves it once:

* A subscription's root value may say it is :class:`SharedBySubscribers`: every field below it is
  read from the event alone (no context, no database, no principal), so its answer depends only
  on the event, the document and the variables the selection uses.
* :class:`SharedEventExecutor` (the schema's executor) keys each event's execution by (the
  event, the document, the operation, the variables used below the root field) — the root
  field's own arguments (``memberId``, the cursor ``after``) only chose the stream, already
  authorised per subscriber at subscribe time — and keeps the result in a bounded per-process
  cache (one per app: event ids are unique within a database). The first subscriber executes;
  the others get the same result.
* The result's data is a :class:`SharedData`, a dict that also carries its JSON, encoded once:
  the socket handler (app/graphql/core/sockets.py) splices it into each subscriber's ``next``
  message instead of encoding the data again.

A result with errors is not kept: each subscriber then executes on its own, as before.
Authorisation, replay from ``after``, RESYNC and ordering are the source streams' (per subscriber,
unchanged); only the mapping of an event to its payload is shared.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Hashable
from typing import Any

import orjson
from graphql import ExecutionResult, FieldNode, VariableNode, Visitor, visit
from graphql.language import Node
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app.events.stream import StoredEvent
from app.graphql.core.context import Context

CACHE_KEY = "graphql.shared_events"
# Events being fanned out at once, times the distinct documents asking for them: an event stays
# needed only until every subscriber of its topic in this process took it (milliseconds, or up
# to a subscriber's buffer for a slow one, which then executes on its own).
CACHE_SIZE = 4096


class SharedBySubscribers:
    """A subscription's root value whose fields read only the event it carries: its answer to a
    selection is the same for every subscriber."""

    __slots__ = ()

    def shared_key(self) -> Hashable:
        """What identifies the event within this process's database (never reused)."""
        raise NotImplementedError


def event_identity(event: StoredEvent) -> Hashable:
    """An event's key among the shared results: its id, with what makes a reused id (another
    database behind the same process, in tests) a different key."""
    return (event.id, event.topic, event.created_at)


class SharedData(dict[str, Any]):
    """An event's data, with its ``next`` payload already encoded (``payload``: an orjson
    fragment, spliced as is into every subscriber's message)."""

    __slots__ = ("payload",)

    payload: orjson.Fragment | None


Result = ExecutionResult | Awaitable[ExecutionResult]


class SharedResults:
    """This process's recent results, by event and selection (least recently used dropped)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._results: OrderedDict[Hashable, Result] = OrderedDict()

    def get(self, key: Hashable) -> Result | None:
        found = self._results.get(key)
        if found is not None:
            self._results.move_to_end(key)
        return found

    def put(self, key: Hashable, result: Result) -> None:
        self._results[key] = result
        if len(self._results) > self.size:
            self._results.popitem(last=False)

    def forget(self, key: Hashable, result: Result) -> None:
        if self._results.get(key) is result:
            del self._results[key]


def shared_results(context: Any) -> SharedResults | None:
    if not isinstance(context, Context):
        return None
    caches = context.runtime.caches
    found = caches.get(CACHE_KEY)
    if not isinstance(found, SharedResults):
        found = caches[CACHE_KEY] = SharedResults()
    return found


def _shared(result: ExecutionResult) -> ExecutionResult:
    """``result`` with its data encoded once; as it was if it has errors or cannot be encoded."""
    if result.errors or not isinstance(result.data, dict):
        return result
    data = SharedData(result.data)
    try:
        data.payload = orjson.Fragment(b'{"data":' + orjson.dumps(data) + b"}")
    except TypeError:  # not plain JSON: every socket encodes it as before
        data.payload = None
    return ExecutionResult(data=data, errors=None, extensions=result.extensions)


class _Variables(Visitor):
    """The names of the variables a part of a document uses."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        self.names.add(node.name.value)


def _used_below_root(operation: Node, fragments: dict[str, Any]) -> set[str]:
    """Variables used anywhere but in the root fields' arguments (which only chose the stream);
    a root selection that is not a plain field (a fragment) is taken whole."""
    found = _Variables()
    selection_set = getattr(operation, "selection_set", None)
    for selection in selection_set.selections if selection_set is not None else ():
        if isinstance(selection, FieldNode):
            for directive in selection.directives or ():
                visit(directive, found)
            if selection.selection_set is not None:
                visit(selection.selection_set, found)
        else:
            visit(selection, found)
    for fragment in fragments.values():
        visit(fragment, found)
    return found.names


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, sharing each event's execution among the subscribers that would
    all compute the same answer (see the module's docstring)."""

    _selection: Hashable | None = None
    _event_key: Hashable | None = None

    def _selection_key(self) -> Hashable:
        """The document, the operation and the variables the selection uses, as a key; computed
        once per subscription."""
        if self._selection is None:
            operation = self.operation
            source = operation.loc.source.body if operation.loc is not None else None
            used = _used_below_root(operation, self.fragment_definitions)
            values = self.variable_values.coerced
            try:
                variables = orjson.dumps(
                    {name: values.get(name) for name in sorted(used)},
                    option=orjson.OPT_SORT_KEYS,
                    default=repr,
                )
            except TypeError:
                variables = None
            name = operation.name.value if operation.name is not None else None
            # Without its source (a document built in code) or with variables that cannot be
            # compared, the subscription executes on its own: id(self) is its own key.
            if source is None or variables is None:
                self._selection = ("own", id(self))
            else:
                self._selection = (source, name, variables)
        return self._selection

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        if isinstance(payload, SharedBySubscribers) and isinstance(executor, SharedEventExecutor):
            executor._event_key = (type(payload), payload.shared_key(), self._selection_key())
        return executor

    def execute_operation(self, serially: bool | None = None) -> Any:
        key = self._event_key
        results = shared_results(self.context_value) if key is not None else None
        if key is None or results is None:
            return super().execute_operation(serially)
        found = results.get(key)
        if found is not None:
            return found
        outcome = super().execute_operation(serially)
        if isinstance(outcome, ExecutionResult):
            result = _shared(outcome)
            if not result.errors:
                results.put(key, result)
            return result
        # Resolved concurrently by several subscribers: they all wait for the first one's task,
        # which outlives a subscriber cancelled meanwhile.
        if not self.is_awaitable(outcome):  # incremental delivery: not for subscriptions
            return outcome
        task: asyncio.Task[ExecutionResult] = asyncio.ensure_future(_finish(outcome))
        results.put(key, task)

        def keep_only_clean(done: asyncio.Task[ExecutionResult]) -> None:
            if done.cancelled() or done.exception() is not None or done.result().errors:
                results.forget(key, done)

        task.add_done_callback(keep_only_clean)
        return task


async def _finish(outcome: Awaitable[Any]) -> ExecutionResult:
    result = await outcome
    return _shared(result) if isinstance(result, ExecutionResult) else result
