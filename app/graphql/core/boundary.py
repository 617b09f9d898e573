"""Input limits at the API's edge, each in one place (docs/API.md "Limits").

Everything a client sends is checked here before any resolver runs, so a resolver never sees a
value PostgreSQL or Python cannot hold:

- :class:`BodySizeLimit`, an ASGI middleware: a request body over ``max_request_bytes`` is
  answered 413 without being read any further.
- :func:`decode_request_json`, the view's JSON parse (HTTP bodies and WebSocket messages): it
  refuses nesting deeper than ``max_json_depth`` and any string, or object key, that no column
  can store (NUL, lone surrogates). That covers every variable, of every type (String, ID,
  JSON…).
- :class:`RefuseUnstorableStrings`, a validation rule: the same refusal for string literals
  written in the query document itself (``"\\u0000"`` is a legal GraphQL escape).
- :data:`BoundedDecimal`, the ``Decimal`` scalar: finite, and within what the columns hold.
- :data:`AwareDateTime`, the ``DateTime`` scalar: a time with its offset, never a naive one (the
  programme's clock is not the caller's, and a naive time would be read in the server's zone).
  Every DateTime input of the API, argument or input field, goes through it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal, DecimalException, InvalidOperation
from typing import Any

from graphql import GraphQLError, StringValueNode, ValidationRule
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.exceptions import StrawberryInputCoercionError as ScalarRefused
from strawberry.types.scalar import ScalarDefinition

from app.errors import ErrorCode

# PostgreSQL text cannot hold U+0000, and UTF-8 cannot encode a lone surrogate.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# The widest value any Decimal column holds (numeric(14,2) money, numeric(18,6) rates, …) is
# below 10^12; the finest is 6 places. A value beyond either could only be refused later by a
# numeric overflow or silently rounded, so the scalar refuses it.
DECIMAL_MAX = Decimal(10) ** 12
DECIMAL_MAX_PLACES = 6


class RefusedRequest(Exception):
    """A request refused before GraphQL runs (bad JSON, too deep, too big, unstorable text)."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code

    def response(self) -> JSONResponse:
        body = {
            "errors": [
                {"message": self.message, "extensions": {"code": ErrorCode.INVALID_INPUT.value}}
            ]
        }
        return JSONResponse(body, status_code=self.status_code)


class RefusedJson(json.JSONDecodeError):
    """A JSON text refused by :func:`decode_request_json`.

    A ``JSONDecodeError`` so that the WebSocket handlers treat it as any message that is not
    JSON (graphql-transport-ws closes with 4400); the HTTP view turns it into a 400.
    """

    def __init__(self, reason: str, document: str) -> None:
        super().__init__(reason, document[:80], 0)
        self.reason = reason


def unstorable_text(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None when it can."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character (U+0000)"
    return f"contains a lone surrogate (U+{ord(found.group()):04X})"


def decode_request_json(data: str | bytes, max_depth: int, max_chars: int) -> object:
    """``json.loads`` that refuses what the API cannot take (see the module docstring)."""
    try:
        text = data.decode() if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise RefusedJson("the body is not UTF-8", "") from None
    if len(text) > max_chars:
        raise RefusedJson(f"the message is larger than {max_chars} characters", "")
    try:
        value = json.loads(text)
    except RecursionError:
        raise RefusedJson(f"JSON nested deeper than {max_depth} levels", text) from None
    _check_json(value, max_depth, text)
    return value


def _check_json(value: object, max_depth: int, text: str) -> None:
    # Iterative: the value may be as deep as json.loads allows, deeper than a recursive walk.
    for depth, item in _walk(value):
        if depth > max_depth:
            raise RefusedJson(f"JSON nested deeper than {max_depth} levels", text)
        if isinstance(item, str) and (reason := unstorable_text(item)):
            raise RefusedJson(f"a string {reason}", text)


def _walk(value: object) -> Iterator[tuple[int, object]]:
    stack: list[tuple[int, object]] = [(0, value)]
    while stack:
        depth, item = stack.pop()
        yield depth, item
        if isinstance(item, dict):
            stack.extend((depth + 1, key) for key in item)
            stack.extend((depth + 1, child) for child in item.values())
        elif isinstance(item, list):
            stack.extend((depth + 1, child) for child in item)


class RefuseUnstorableStrings(ValidationRule):
    """String literals in the document obey the same rule as strings in variables."""

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        reason = unstorable_text(node.value)
        if reason:
            self.report_error(
                GraphQLError(
                    f"A string literal {reason}.",
                    node,
                    extensions={"code": ErrorCode.INVALID_INPUT.value},
                )
            )


def parse_decimal(value: object) -> Decimal:
    """The Decimal scalar's input: a finite number the columns can hold.

    Raises a GraphQLError (not a ValueError): graphql-core reports those as the input's fault
    for literals too, where a ValueError would be an unexpected error."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ScalarRefused("Decimal must be given as a string or a number")
    text = str(value)
    if len(text) > 64:  # never echo, nor parse, an unbounded string
        raise ScalarRefused("Decimal is longer than 64 characters")
    try:
        number = Decimal(text)
    except (InvalidOperation, DecimalException):
        raise ScalarRefused(f"Decimal cannot represent {text!r}") from None
    if not number.is_finite():
        raise ScalarRefused(f"Decimal must be finite, not {text}")
    if abs(number) >= DECIMAL_MAX:
        raise ScalarRefused(f"Decimal must be below {DECIMAL_MAX:,} in absolute value")
    if number != number.quantize(Decimal(1).scaleb(-DECIMAL_MAX_PLACES), rounding="ROUND_DOWN"):
        raise ScalarRefused(f"Decimal has more than {DECIMAL_MAX_PLACES} decimal places")
    return number


BoundedDecimal = ScalarDefinition(
    name="Decimal",
    description="Decimal (fixed-point): finite, below 10^12, at most 6 decimal places",
    specified_by_url=None,
    serialize=str,
    parse_value=parse_decimal,
    parse_literal=None,
    origin=Decimal,
)


def parse_datetime(value: object) -> datetime:
    """The DateTime scalar's input: an ISO 8601 time with its offset (``Z`` or ``+08:00``).

    A GraphQLError like :func:`parse_decimal`'s, so that the whole operation is refused before
    any resolver runs (nothing is written)."""
    if not isinstance(value, str):
        raise ScalarRefused("DateTime must be given as an ISO 8601 string")
    if len(value) > 64:  # never echo, nor parse, an unbounded string
        raise ScalarRefused("DateTime is longer than 64 characters")
    try:
        moment = datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        raise ScalarRefused(f"DateTime cannot represent {value!r}") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ScalarRefused(
            f"DateTime needs a time zone offset (e.g. 2026-11-23T10:00:00+08:00), not {value!r}"
        )
    try:  # year 1 at +08:00 is before the first instant Python can hold in UTC
        moment.astimezone(UTC)
    except OverflowError:
        raise ScalarRefused(f"DateTime is out of range: {value!r}") from None
    return moment


AwareDateTime = ScalarDefinition(
    name="DateTime",
    description="Date with time (ISO 8601) and its time zone offset; a time without one is refused",
    specified_by_url=None,
    serialize=datetime.isoformat,
    parse_value=parse_datetime,
    parse_literal=None,
    origin=datetime,
)


class BodySizeLimit:
    """Answer 413 to a request body over ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = RefusedRequest(f"the request body is larger than {self.max_bytes} bytes", 413)
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.max_bytes:
            await too_big.response()(scope, receive, send)
            return
        # GraphQL bodies are small: read the whole (bounded) body here, then replay it.
        messages = await self._read_body(receive)
        if messages is None:
            await too_big.response()(scope, receive, send)
            return
        await self.app(scope, _replay(messages, receive), send)

    async def _read_body(self, receive: Receive) -> list[Message] | None:
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return None
            if message["type"] != "http.request" or not message.get("more_body", False):
                return messages


def _replay(messages: list[Message], receive: Receive) -> Callable[[], Any]:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed
