"""The Starlette application: GraphQL over HTTP and WebSocket, and the health checks.

``create_app()`` is the factory uvicorn calls (``app.web:create_app`` with ``factory=True``);
tests call it with their own settings and clock. The lifespan builds the :class:`Runtime`
(engine, Redis, clock) once per process and disposes of it on shutdown.

Authentication: ``Authorization: Bearer <jwt>`` (members, staff) or ``X-Api-Key: jf_…``
(partners); on a WebSocket, the same keys in the ``connection_init`` payload (or the upgrade
request's headers). No credential is anonymous. A credential that is wrong is refused before any
GraphQL runs: HTTP 401 with a GraphQL-shaped JSON body whose ``extensions.code`` is
``UNAUTHENTICATED``; on a WebSocket, the connection is rejected at ``connection_init``. Failed
credentials are throttled (app/auth/guard.py): past the limit, HTTP 429 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import orjson
import strawberry
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UnsetType

from app.analytics import exports
from app.auth.credentials import connection_credentials
from app.auth.guard import Throttled, credential_guard
from app.auth.permissions import require
from app.auth.principal import ANONYMOUS, Principal
from app.clock import Clock, system_clock
from app.config import Settings, get_settings
from app.console.routes import console_routes, graphiql_page
from app.console.session import CSRF_HEADER, console_session
from app.db import create_engine
from app.errors import DomainError, ErrorCode, invalid
from app.events.gateway import event_gateway
from app.gcpolicy import keep_gc_pauses_short
from app.graphql.core.boundary import (
    BodySizeLimit,
    RefusedJson,
    RefusedRequest,
    decode_request_json,
)
from app.graphql.core.context import Context
from app.graphql.core.errors import QUERY_REJECTED
from app.graphql.core.sockets import WatchedLegacyWS, WatchedTransportWS
from app.graphql.schema import build_schema
from app.jobs.runner import scheduled_jobs
from app.leaderboards.runner import projector_running
from app.logging import configure_logging, get_logger
from app.members.service import channels_of_members
from app.metrics import process_exited
from app.monitoring import CountedWebSockets, metrics_endpoint
from app.redisclient import open_redis
from app.replicas import replicas_running
from app.runtime import Runtime
from app.webhooks.backlog import backlog_gauges
from app.webhooks.runner import webhooks_running

UNAUTHENTICATED = ErrorCode.UNAUTHENTICATED.value
PRINCIPAL_KEY = "jifen.principal"  # where the HTTP wrapper leaves the principal in the scope
READY_TIMEOUT_SECONDS = 2.0

access_log = get_logger("app.access")


def _runtime(scope_holder: Request | WebSocket) -> Runtime:
    runtime: Runtime = scope_holder.app.state.runtime
    return runtime


def unauthenticated_response(error: DomainError) -> JSONResponse:
    body = {"errors": [{"message": error.message, "extensions": {"code": error.code.value}}]}
    if isinstance(error, Throttled):
        return JSONResponse(body, status_code=429, headers={"Retry-After": str(error.retry_after)})
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})


def _client_address(connection: Request | WebSocket) -> str:
    # The peer as uvicorn reports it (behind a proxy: run uvicorn with --proxy-headers).
    return connection.client.host if connection.client else "unknown"


def _refusal_of(response_data: object) -> tuple[str, dict[str, Any]] | None:
    """The code of the refusal that answered the whole operation before it ran (rate limit, a
    member's standing): an error with no path, raised by an extension, not by a field."""
    errors = response_data.get("errors") if isinstance(response_data, dict) else None
    for error in errors or []:
        if not isinstance(error, dict) or error.get("path"):
            continue
        extensions = error.get("extensions") or {}
        if extensions.get("code") in (ErrorCode.RATE_LIMITED.value, UNAUTHENTICATED):
            return str(extensions["code"]), extensions
    return None


class TextFrames(ASGIWebSocketAdapter):
    """GraphQL over WebSocket in text frames, as both protocols specify: the view's JSON is
    bytes (orjson), which Strawberry would send as binary frames, and browser clients
    (graphql-ws) cannot parse those."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        encoded = self.view.encode_json(message)
        try:
            await self.ws.send_text(encoded.decode() if isinstance(encoded, bytes) else encoded)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class JifenGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view with our authentication, context and JSON limits."""

    websocket_adapter_class = TextFrames

    def __init__(self, schema: strawberry.Schema, settings: Settings, **options: Any) -> None:
        super().__init__(schema, **options)
        self.settings = settings

    def decode_json(self, data: str | bytes) -> object:
        # HTTP bodies and WebSocket messages alike (app/graphql/core/boundary.py).
        return decode_request_json(
            data, self.settings.max_json_depth, self.settings.max_request_bytes
        )

    def encode_json(self, data: object) -> bytes:
        # Every answer, HTTP and WebSocket: orjson writes the same compact JSON as json.dumps
        # (non-ASCII as UTF-8 rather than escaped), several times faster (docs/PERFORMANCE.md).
        return orjson.dumps(data)

    def parse_json(self, data: str | bytes) -> Any:
        try:
            return self.decode_json(data)
        except RefusedJson as refused:
            raise RefusedRequest(f"Refused request body: {refused.reason}") from None
        except json.JSONDecodeError:
            raise RefusedRequest("The request body is not valid JSON") from None

    async def render_graphql_ide(self, request: Request) -> Response:
        # Strawberry's page loads GraphiQL from a CDN; ours from Jifen's own vendored files.
        return await graphiql_page(request)

    # Sockets are closed when their credential stops being valid (app/graphql/core/sockets.py).
    graphql_transport_ws_handler_class = WatchedTransportWS
    graphql_ws_handler_class = WatchedLegacyWS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._serve(scope, receive, send)
        except RefusedRequest as refused:  # raised by parse_json before any response started
            await refused.response()(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope, receive)
            if self.graphql_ide and self.should_render_graphql_ide(
                self.request_adapter_class(request)
            ):
                # A static page, for anyone: decided before the credentials, so a browser that
                # holds the console's cookie (and no CSRF header on a navigation) gets it too.
                page = await self.render_graphql_ide(request)
                await page(scope, receive, send)
                return
            try:
                runtime = _runtime(request)
                scope[PRINCIPAL_KEY] = await credential_guard(runtime).authenticate(
                    runtime,
                    _client_address(request),
                    authorization=request.headers.get("authorization"),
                    api_key=request.headers.get("x-api-key"),
                    session=console_session(request, request.headers.get(CSRF_HEADER)),
                    # Read once the operation is known (app/graphql/core/standing.py).
                    standing=False,
                )
            except DomainError as error:
                # Refused before GraphQL runs: the access line OperationMetrics would write.
                access_log.info("graphql", principal="refused", outcome=error.code.value)
                await unauthenticated_response(error)(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        # Syntax errors (the token limit among them) are answered before extensions see the
        # result: give them the same code as the other rejected queries.
        for error in response.get("errors") or []:
            if isinstance(error, dict):
                error.setdefault("extensions", {}).setdefault("code", QUERY_REJECTED)
        return response

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        refusal = _refusal_of(response_data)
        if refusal is None:
            return response
        code, extensions = refusal
        if code == UNAUTHENTICATED:  # a member's standing, read after parsing: as at the door
            response.status_code = 401
            response.headers["WWW-Authenticate"] = "Bearer"
        else:
            response.status_code = 429
            response.headers["Retry-After"] = str(int(extensions.get("retryAfter") or 1))
        return response

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        # WebSockets start anonymous: on_ws_connect decides at connection_init.
        principal: Principal = request.scope.get(PRINCIPAL_KEY, ANONYMOUS)
        if isinstance(request, Request):
            return Context.of_request(_runtime(request), principal, request)
        return Context(runtime=_runtime(request), principal=principal, request=request)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        params = context.connection_params or {}
        websocket = context.request if isinstance(context.request, WebSocket) else None
        try:
            if params:
                authorization, api_key = connection_credentials(params)
            elif websocket is not None:
                authorization = websocket.headers.get("authorization")
                api_key = websocket.headers.get("x-api-key")
            else:
                authorization = api_key = None
            # The console's socket: its cookie came with the upgrade, its CSRF token in the
            # payload (a page on another site can open a socket with the cookie, not the token).
            csrf = params.get("csrfToken")
            session = (
                console_session(websocket, csrf if isinstance(csrf, str) else None)
                if websocket is not None
                else None
            )
            principal = await credential_guard(context.runtime).authenticate(
                context.runtime,
                _client_address(websocket) if websocket else "unknown",
                authorization=authorization,
                api_key=api_key,
                session=session,
            )
            # The row read at authentication would go stale over the connection's life.
            context.principal = replace(principal, member_row=None)
        except DomainError as error:
            raise ConnectionRejectionError(
                {"message": error.message, "code": error.code.value}
            ) from error
        return {"principal": context.principal.name}


def _export_days(request: Request) -> tuple[date, date]:
    try:
        return (
            date.fromisoformat(request.query_params["from"]),
            date.fromisoformat(request.query_params["to"]),
        )
    except (KeyError, ValueError):
        raise invalid("from and to are business days, YYYY-MM-DD", "from") from None


EXPORTS: dict[str, tuple[str, Callable[[Request, Runtime], AsyncIterator[str]]]] = {
    "balances": ("exportMemberBalances", lambda request, rt: exports.member_balances(rt)),
    "transactions": (
        "exportTransactions",
        lambda request, rt: exports.transactions(rt, *_export_days(request)),
    ),
}
EXPORT_STATUS = {ErrorCode.FORBIDDEN: 403, ErrorCode.INVALID_INPUT: 400}


async def export_csv(request: Request) -> Response:
    """A CSV export, streamed (docs/ANALYTICS.md, "Exports"): credentials as for /graphql, the
    export's operation in the permission table."""
    runtime = _runtime(request)
    name = request.path_params["name"]
    if name not in EXPORTS:
        return JSONResponse({"errors": [{"message": f"no export {name[:40]!r}"}]}, 404)
    operation, make = EXPORTS[name]
    try:
        principal = await credential_guard(runtime).authenticate(
            runtime,
            _client_address(request),
            authorization=request.headers.get("authorization"),
            api_key=request.headers.get("x-api-key"),
        )
        require(principal, operation)
        stream = make(request, runtime)
    except DomainError as error:
        status = EXPORT_STATUS.get(error.code)
        if status is None:
            return unauthenticated_response(error)
        body = {"errors": [{"message": error.message, "extensions": {"code": error.code.value}}]}
        return JSONResponse(body, status_code=status)
    return StreamingResponse(
        stream,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


async def healthz(request: Request) -> Response:
    """The process is alive and serving (no dependency is checked)."""
    return JSONResponse({"status": "ok"})


async def _check(probe: Callable[[], Awaitable[object]], where: str) -> str | None:
    """None when the probe answers in time, else why not. A timeout names the address: the
    client's own error would (refused, unknown host), but a loaded box may time out first."""
    try:
        await asyncio.wait_for(probe(), READY_TIMEOUT_SECONDS)
    except TimeoutError:
        return f"timed out reaching {where}"
    except Exception as exc:  # any failure means not ready; say which
        return f"{type(exc).__name__}: {exc}"[:200]
    return None


async def readyz(request: Request) -> Response:
    """Ready to serve: PostgreSQL answers ``select 1`` and Redis answers PING."""
    rt = _runtime(request)

    async def postgres() -> None:
        async with rt.engine.connect() as conn:
            await conn.execute(text("select 1"))

    async def redis() -> None:
        await rt.redis.ping()

    redis_at = getattr(rt.redis, "connection_pool", None)
    redis_kwargs: dict[str, Any] = getattr(redis_at, "connection_kwargs", {})
    failures = {
        name: error
        for name, error in zip(
            ("postgres", "redis"),
            await asyncio.gather(
                _check(postgres, f"{rt.engine.url.host}:{rt.engine.url.port}"),
                _check(redis, f"{redis_kwargs.get('host')}:{redis_kwargs.get('port')}"),
            ),
            strict=True,
        )
        if error is not None
    }
    if failures:
        if rt.settings.is_production:
            # Error texts name hosts and ports: the log has them, the caller gets the parts.
            get_logger("app.web").warning("readyz.unavailable", **failures)
            return JSONResponse(
                {"status": "unavailable", "failed": sorted(failures)}, status_code=503
            )
        return JSONResponse({"status": "unavailable", "failed": failures}, status_code=503)
    return JSONResponse({"status": "ready"})


def _require_url(value: str | None, name: str) -> str:
    if not value:
        raise RuntimeError(f"{name} is not set (`jifen serve` sets it, or starts embedded servers)")
    return value


@asynccontextmanager
async def _gc_policy(settings: Settings) -> AsyncIterator[None]:
    if not settings.gc_freeze_seconds:
        yield
        return
    task = asyncio.create_task(
        keep_gc_pauses_short(settings.gc_freeze_seconds, settings.gc_full_collect_seconds)
    )
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        gc.unfreeze()


@asynccontextmanager
async def _webhooks(runtime: Runtime) -> AsyncIterator[None]:
    """Webhook delivery in this API process too, when JIFEN_WEBHOOKS_IN_SERVE is set."""
    if not runtime.settings.webhooks_in_serve:
        yield
        return
    async with webhooks_running(runtime, channels_of_members):
        yield


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> Starlette:
    settings = settings or get_settings()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = create_engine(
            _require_url(settings.database_url, "JIFEN_DATABASE_URL"), settings.db_pool_size
        )
        # After a Redis restart each pooled connection fails its next command once: retry it
        # on a fresh connection instead of failing the request (rate limits, leaderboards…).
        redis = open_redis(
            _require_url(settings.redis_url, "JIFEN_REDIS_URL"),
            pool_size=settings.redis_pool_size,
            pool_timeout=settings.redis_pool_timeout_seconds,
        )
        try:
            # The hub fans events out to this process's subscriptions; the relay (one leader
            # among all processes) publishes the outbox to Redis.
            async with (
                event_gateway(settings) as hub,
                replicas_running(
                    engine,
                    settings.database_replica_urls,
                    redis,
                    pool_size=settings.db_pool_size,
                    max_lag_seconds=settings.replica_max_lag_seconds,
                    check_seconds=settings.replica_check_seconds,
                ) as replicas,
            ):
                runtime = Runtime(settings, engine, redis, clock or system_clock, hub, replicas)
                app.state.runtime = runtime
                async with (
                    projector_running(runtime),
                    _gc_policy(settings),
                    scheduled_jobs(runtime),
                    _webhooks(runtime),
                ):
                    yield
        finally:
            await redis.aclose()
            await engine.dispose()
            process_exited()

    graphql = JifenGraphQL(
        build_schema(settings),
        settings,
        graphql_ide="graphiql" if settings.graphiql_enabled else None,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
        connection_init_wait_timeout=timedelta(seconds=settings.ws_connection_init_timeout_seconds),
        max_subscriptions_per_connection=settings.ws_max_operations,
        # Widgets open sockets from brands' pages (docs/WIDGETS.md). Another origin gains no
        # ambient authority: a socket authenticates by what its connection_init carries, and the
        # console's cookie counts only with its CSRF token, which no other origin can read.
        allowed_origins=settings.websocket_origins,
    )
    app = Starlette(
        routes=[
            Route("/graphql", graphql),
            WebSocketRoute("/graphql", CountedWebSockets(graphql)),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            Route("/exports/{name}.csv", export_csv, methods=["GET"]),
            *console_routes(),
        ],
        lifespan=lifespan,
    )
    app.state.measures = (backlog_gauges,)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    return app
