"""Sending one attempt: an HTTP POST through a connection pool that connects only to addresses
the policy allows (app/webhooks/addresses.py).

The check sits where the connection is made: the pool's network backend resolves the host
itself, refuses it if any address it resolves to is refused, and connects to a checked address —
so a name that resolves to a private address, or re-resolves to one later (DNS rebinding), is
caught, and TLS still verifies the host name. Redirects are never followed (httpcore does not);
an attempt has a connect timeout and a total one; at most ``webhook_response_bytes`` of the
answer are read.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

import httpcore

from app.config import Settings
from app.webhooks.addresses import AddressRefused, Network, is_allowed, literal_address, networks

USER_AGENT = "Jifen-Webhooks/1"
MAX_EXCERPT = 500
MAX_ERROR = 300


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to allowed addresses."""

    def __init__(self, allowed: tuple[Network, ...]) -> None:
        self._allowed = allowed
        self._inner = httpcore.AnyIOBackend()

    async def _addresses(self, host: str, port: int) -> list[str]:
        literal = literal_address(host)
        if literal is not None:
            found = [str(literal)]
        else:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
            found = list(dict.fromkeys(str(info[4][0]) for info in infos))
        refused = [a for a in found if not self._permits(a)]
        if refused or not found:
            raise AddressRefused(f"{host} resolves to a refused address ({', '.join(refused)})")
        return found

    def _permits(self, address: str) -> bool:
        parsed = literal_address(address)
        return parsed is not None and is_allowed(parsed, self._allowed)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        async with asyncio.timeout(timeout):
            addresses = await self._addresses(host, port)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"cannot connect to {host}")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("webhooks are not sent to Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer (refused address, connection error, timeout)
    retry_after: str | None
    excerpt: str | None
    error: str | None
    duration_ms: int


class Sender:
    """One process's HTTP client for webhooks (a pool shared by its attempts)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool = httpcore.AsyncConnectionPool(
            network_backend=GuardedBackend(networks(settings.webhook_allowed_networks)),
            max_connections=settings.webhook_concurrency,
            retries=0,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> Answer:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._settings.webhook_timeout_seconds):
                return await self._post(url, headers, body, started)
        except TimeoutError:
            return _failed(started, "timed out")
        except AddressRefused as exc:
            return _failed(started, f"address refused: {exc}")
        except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError) as exc:
            return _failed(started, f"{type(exc).__name__}: {exc}")
        except OSError as exc:  # name resolution
            return _failed(started, f"{type(exc).__name__}: {exc}")

    async def _post(self, url: str, headers: dict[str, str], body: bytes, started: float) -> Answer:
        connect = self._settings.webhook_connect_timeout_seconds
        total = self._settings.webhook_timeout_seconds
        request_headers = [
            ("content-type", "application/json"),
            ("user-agent", USER_AGENT),
            *headers.items(),
        ]
        timeouts = {"connect": connect, "read": total, "write": total, "pool": total}
        async with self._pool.stream(
            "POST", url, headers=request_headers, content=body, extensions={"timeout": timeouts}
        ) as response:
            read = await _capped(response, self._settings.webhook_response_bytes)
            retry_after = _header(response, b"retry-after")
        return Answer(
            status=response.status,
            retry_after=retry_after,
            excerpt=read.decode(errors="replace")[:MAX_EXCERPT] or None,
            error=None,
            duration_ms=_ms(started),
        )


async def _capped(response: httpcore.Response, limit: int) -> bytes:
    read = bytearray()
    if limit == 0:
        return bytes(read)
    async for chunk in response.aiter_stream():
        read += chunk
        if len(read) >= limit:
            break
    return bytes(read[:limit])


def _header(response: httpcore.Response, name: bytes) -> str | None:
    for key, value in response.headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _failed(started: float, error: str) -> Answer:
    return Answer(None, None, None, error[:MAX_ERROR], _ms(started))
