"""WebSockets that outlive their credential: each acknowledged socket is watched, and closed when
what it signed in with stops being valid.

* a token: at its ``exp`` (a timer per socket) — closed with **4401** (Unauthorized: sign in again);
* an API key or a widget key revoked, or the member closed: found by a re-check every
  ``JIFEN_WS_CREDENTIAL_RECHECK_SECONDS`` — closed with **4403** (Forbidden).

The re-check is one query per kind for every watched socket of the process (not one per socket),
and reads the database every process shares: a revocation made anywhere (``jifen apikey revoke``
on any machine) reaches every replica within one interval, with nothing to deliver or lose.
Before the close, the socket's operations are cancelled, so no event is sent after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLError
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage as LegacyConnectionInitMessage,
)

from app.auth.principal import Principal, PrincipalKind
from app.auth.tables import api_keys, widget_keys
from app.errors import ErrorCode
from app.graphql.core.context import Context
from app.graphql.core.fanout import SharedData
from app.logging import get_logger
from app.members.tables import members
from app.runtime import Runtime

log = get_logger(__name__)

TOKEN_EXPIRED = 4401  # graphql-transport-ws: Unauthorized (Strawberry: subscribe before ack)
FORBIDDEN = 4403  # graphql-transport-ws: Forbidden (Strawberry: connection_init refused)
PARTNER = PrincipalKind.PARTNER
WIDGET = PrincipalKind.WIDGET

Close = Callable[[int, str], Coroutine[Any, Any, None]]


class WatchedSocket:
    """One acknowledged socket: its principal and how to close it."""

    def __init__(self, principal: Principal, close: Close) -> None:
        self.principal = principal
        self._close = close
        self.closing: asyncio.Task[None] | None = None
        self.expiry: asyncio.Task[None] | None = None

    def end(self, code: int, reason: str) -> None:
        if self.closing is None:
            log.info("websocket.credential_ended", principal=self.principal.name, reason=reason)
            self.closing = asyncio.create_task(self._close(code, reason))

    async def expire_at(self, when: datetime) -> None:
        await asyncio.sleep(max((when - datetime.now(UTC)).total_seconds(), 0))
        self.end(TOKEN_EXPIRED, "the token has expired")


class CredentialWatch:
    """Every watched socket of one process, and the task that re-checks them."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.sockets: set[WatchedSocket] = set()
        self.recheck: asyncio.Task[None] | None = None

    def add(self, socket: WatchedSocket) -> None:
        expires_at = socket.principal.expires_at
        if expires_at is not None:
            socket.expiry = asyncio.create_task(socket.expire_at(expires_at))
        if socket.principal.kind in {PARTNER, PrincipalKind.MEMBER, WIDGET}:
            self.sockets.add(socket)
            if self.recheck is None or self.recheck.done():
                self.recheck = asyncio.create_task(self._recheck_while_watched())

    def discard(self, socket: WatchedSocket) -> None:
        if socket.expiry is not None:
            socket.expiry.cancel()
        self.sockets.discard(socket)
        if not self.sockets and self.recheck is not None:
            self.recheck.cancel()  # nothing left to watch: no task outlives the sockets
            self.recheck = None

    async def _recheck_while_watched(self) -> None:
        interval = self.runtime.settings.ws_credential_recheck_seconds
        while self.sockets:
            await asyncio.sleep(interval)
            try:
                await self.recheck_now()
            except Exception:  # a failed round is retried next interval; the sockets stay
                log.warning("websocket credential re-check failed", exc_info=True)

    async def recheck_now(self) -> None:
        watched = list(self.sockets)
        member_ids = {s.principal.member_id for s in watched if s.principal.member_id}
        async with self.runtime.engine.connect() as conn:
            active_keys = await _active_prefixes(conn, api_keys, _prefixes(watched, PARTNER))
            active_widgets = await _active_prefixes(conn, widget_keys, _prefixes(watched, WIDGET))
            closed: set[int] = set()
            if member_ids:
                rows = await conn.execute(
                    select(members.c.id).where(
                        members.c.id.in_(member_ids), members.c.status == "closed"
                    )
                )
                closed = {row.id for row in rows}
        for socket in watched:
            principal = socket.principal
            if principal.kind is WIDGET and principal.key_prefix not in active_widgets:
                socket.end(FORBIDDEN, "the widget key was revoked")
            elif principal.kind is PARTNER and principal.key_prefix not in active_keys:
                socket.end(FORBIDDEN, "the API key was revoked")
            elif principal.member_id in closed:
                socket.end(FORBIDDEN, "the member is closed")


def _prefixes(sockets: list[WatchedSocket], kind: PrincipalKind) -> set[str]:
    return {
        s.principal.key_prefix
        for s in sockets
        if s.principal.kind is kind and s.principal.key_prefix
    }


async def _active_prefixes(conn: AsyncConnection, keys: Table, prefixes: set[str]) -> set[str]:
    """Which of ``prefixes`` are keys of ``keys`` (API keys, widget keys) not revoked."""
    if not prefixes:
        return set()
    rows = await conn.execute(
        select(keys.c.prefix).where(keys.c.prefix.in_(prefixes), keys.c.revoked_at.is_(None))
    )
    return {row.prefix for row in rows}


def credential_watch(runtime: Runtime) -> CredentialWatch:
    watch = runtime.caches.get("websocket.credential_watch")
    if not isinstance(watch, CredentialWatch):
        watch = runtime.caches["websocket.credential_watch"] = CredentialWatch(runtime)
    return watch


def _watch_once_acknowledged(handler: WatchedTransportWS | WatchedLegacyWS) -> None:
    if handler.connection_acknowledged and handler.watched is None:
        handler.watched = WatchedSocket(handler.context.principal, handler.end)
        credential_watch(handler.context.runtime).add(handler.watched)


def _unwatch(handler: WatchedTransportWS | WatchedLegacyWS) -> None:
    if handler.watched is not None:
        credential_watch(handler.context.runtime).discard(handler.watched)


async def _close_quietly(websocket_close: Awaitable[None]) -> None:
    # The client may have gone in the meantime: then there is nothing left to close.
    with suppress(RuntimeError, OSError):
        await websocket_close


class WatchedTransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, watched once acknowledged, with a clear refusal past the cap on
    operations (``JIFEN_WS_MAX_OPERATIONS``)."""

    watched: WatchedSocket | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        _watch_once_acknowledged(self)

    async def end(self, code: int, reason: str) -> None:
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        await _close_quietly(self.websocket.close(code=code, reason=reason))

    async def shutdown(self) -> None:
        _unwatch(self)
        await super().shutdown()

    async def send_message(self, message: Message) -> None:
        if message["type"] == "next":
            payload = message["payload"]
            data = payload.get("data")
            # An event's payload shared by its subscribers is encoded once (fanout.py), not here.
            if isinstance(data, SharedData) and data.payload is not None and len(payload) == 1:
                shared = {"id": message["id"], "type": "next", "payload": data.payload}
                await self.websocket.send_json(shared)
                return
        await self.websocket.send_json(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        cap = self.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and cap is not None
            and message["id"] not in self.operations
            and len(self.operations) >= cap
        ):
            error = GraphQLError(
                f"this socket already runs {cap} operations, at most {cap} operations are "
                "allowed at once: complete one first",
                extensions={"code": ErrorCode.LIMIT_REACHED.value},
            )
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        await super().handle_subscribe(message)


class WatchedLegacyWS(BaseGraphQLWSHandler[Context, None]):
    """The legacy graphql-ws protocol, watched the same way."""

    watched: WatchedSocket | None = None

    async def handle_connection_init(self, message: LegacyConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        _watch_once_acknowledged(self)

    async def end(self, code: int, reason: str) -> None:
        await super().cleanup()
        await _close_quietly(self.websocket.close(code=code, reason=reason))

    async def cleanup(self) -> None:
        _unwatch(self)
        await super().cleanup()
