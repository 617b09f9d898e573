"""The HTTP side of metrics: ``GET /metrics``, the WebSocket connection count, and the metrics
port of a process without an API (``jifen worker``).

``/metrics`` is for the operator's Prometheus, not the world: with ``JIFEN_METRICS_TOKEN`` set it
wants ``Authorization: Bearer <that token>``; without one it is open in development and not
served (404) in production (docs/OPERATIONS.md).
"""

from __future__ import annotations

import asyncio
import hmac
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager

import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app import metrics
from app.config import Settings
from app.logging import get_logger
from app.runtime import Runtime

MEASURE_TIMEOUT_SECONDS = 2.0
# The oldest unpublished event through the partial index on unpublished events (migration 0001).
OLDEST_UNPUBLISHED_AGE = text(
    "SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) "
    "FROM (SELECT created_at FROM events WHERE published_at IS NULL ORDER BY id LIMIT 1) oldest"
)

log = get_logger("app.monitoring")


def metrics_refusal(request: Request, settings: Settings) -> Response | None:
    """Why this caller may not read /metrics, as the response to send; None when it may."""
    expected = settings.metrics_token
    if not expected:  # unset, or set empty (docker-compose's default): no token to accept
        if settings.is_production:
            return PlainTextResponse("Not Found", status_code=404)
        return None
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), expected.encode()):
        return None
    return JSONResponse(
        {"error": "a bearer token (JIFEN_METRICS_TOKEN) is required"},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


# A domain's gauges read from the database at scrape time (the webhook backlog, say): the entry
# points hand them in, so that this module knows no domain.
Measure = Callable[[AsyncConnection], Awaitable[list[metrics.Measured]]]


async def measured(engine: AsyncEngine, measures: Sequence[Measure] = ()) -> list[metrics.Measured]:
    """The gauges read from the database at scrape time: the outbox's lag (the age of the oldest
    unpublished event; NaN when the database is away) and the ``measures`` given (left out when
    they could not be read)."""
    gauges: list[metrics.Measured] = []
    try:
        async with asyncio.timeout(MEASURE_TIMEOUT_SECONDS), engine.connect() as conn:
            lag = float(await conn.scalar(OLDEST_UNPUBLISHED_AGE) or 0)
            for measure in measures:
                gauges.extend(await measure(conn))
    except Exception as exc:  # a scrape still reports everything else
        log.warning("metrics.measure_failed", error=repr(exc))
        lag, gauges = math.nan, []
    return [metrics.outbox_lag(lag), *gauges]


async def metrics_endpoint(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    refusal = metrics_refusal(request, runtime.settings)
    if refusal is not None:
        return refusal
    gauges = await measured(runtime.engine, getattr(request.app.state, "measures", ()))
    return Response(metrics.exposition(gauges), media_type=metrics.CONTENT_TYPE)


class CountedWebSockets:
    """Wraps an ASGI app: counts its open WebSocket connections."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        metrics.websocket_connections.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            metrics.websocket_connections.dec()


class _SideServer(uvicorn.Server):
    """uvicorn serving a side port inside a process that handles its own signals."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # uvicorn would take SIGINT and SIGTERM from the worker, which stops us itself


@asynccontextmanager
async def metrics_port(runtime: Runtime, measures: Sequence[Measure] = ()) -> AsyncIterator[None]:
    """``GET /metrics`` on ``JIFEN_METRICS_PORT`` for the duration of the block, when it is set."""
    port = runtime.settings.metrics_port
    if port is None:
        yield
        return
    app = Starlette(routes=[Route("/metrics", metrics_endpoint)])
    app.state.runtime = runtime
    app.state.measures = measures
    config = uvicorn.Config(
        app,
        host=runtime.settings.host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    server = _SideServer(config)
    serving = asyncio.create_task(server.serve(), name="jifen-metrics-port")
    try:
        yield
    finally:
        server.should_exit = True
        await serving
