"""Sending one attempt: an HTTP POST through a keep-alive connection pool (aiohttp) that connects
only to addresses the policy allows (app/webhooks/addresses.py).

The check sits where addresses are found: the pool's resolver refuses a host name if any address
it resolves to is refused, and the pool connects only to the addresses it returned — so a name
that resolves to a private address, or re-resolves to one later (DNS rebinding), is caught, and
TLS still verifies the host name. A literal address in the URL is not resolved: it is checked
before the request. Redirects are never followed; an attempt has a connect timeout and a total
one; at most ``webhook_response_bytes`` of the answer are read, and nothing is decompressed
(``Accept-Encoding`` is not sent).

Why aiohttp and not httpcore (used until issue 15's benchmark): httpcore 1.0's pool scans every
connection for every request it assigns, and looks for ``sniffio`` with a failing import each
time, which cost the worker 3 to 4 ms of CPU a delivery at 32 in flight; aiohttp's costs about
0.15 ms (docs/PERFORMANCE.md "Webhooks").
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from app.config import Settings
from app.webhooks.addresses import AddressRefused, Network, is_allowed, literal_address, networks

USER_AGENT = "Jifen-Webhooks/1"
MAX_EXCERPT = 500
MAX_ERROR = 300


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, answering only with allowed addresses (else :class:`AddressRefused`)."""

    def __init__(self, allowed: tuple[Network, ...]) -> None:
        self._allowed = allowed
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        refused = [r["host"] for r in found if not _permits(r["host"], self._allowed)]
        if refused or not found:
            raise AddressRefused(f"{host} resolves to a refused address ({', '.join(refused)})")
        return found

    async def close(self) -> None:
        await self._inner.close()


def _permits(address: str, allowed: tuple[Network, ...]) -> bool:
    parsed = literal_address(address)
    return parsed is not None and is_allowed(parsed, allowed)


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer (refused address, connection error, timeout)
    retry_after: str | None
    excerpt: str | None
    error: str | None
    duration_ms: int


class Sender:
    """One process's HTTP client for webhooks (a keep-alive pool shared by its attempts). Made
    inside the event loop that uses it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._allowed = networks(settings.webhook_allowed_networks)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                resolver=GuardedResolver(self._allowed),
                limit=settings.webhook_concurrency,
                limit_per_host=0,  # leasing bounds each endpoint (webhook_endpoint_concurrency)
            ),
            # The whole attempt is bounded in post() (asyncio.timeout); a total here too would
            # arm a second timer for every request.
            timeout=aiohttp.ClientTimeout(
                total=None, connect=settings.webhook_connect_timeout_seconds
            ),
            headers={"user-agent": USER_AGENT},
            skip_auto_headers=("accept-encoding",),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),  # a receiver's cookies go nowhere
        )

    async def aclose(self) -> None:
        await self._session.close()

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> Answer:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._settings.webhook_timeout_seconds):
                return await self._post(url, headers, body, started)
        except TimeoutError:
            return _failed(started, "timed out")
        except AddressRefused as exc:
            return _failed(started, f"address refused: {exc}")
        except (aiohttp.ClientError, OSError) as exc:  # connection, protocol, name resolution
            return _failed(started, f"{type(exc).__name__}: {exc}")

    async def _post(self, url: str, headers: dict[str, str], body: bytes, started: float) -> Answer:
        target = URL(url)
        literal = literal_address(target.host or "")
        if literal is not None and not is_allowed(literal, self._allowed):
            raise AddressRefused(f"{literal} is not an allowed address")
        async with self._session.post(
            target,
            data=body,
            headers={"content-type": "application/json", **headers},
            allow_redirects=False,
        ) as response:
            read = await _capped(response, self._settings.webhook_response_bytes)
            retry_after = response.headers.get("retry-after")
        return Answer(
            status=response.status,
            retry_after=retry_after,
            excerpt=read.decode(errors="replace")[:MAX_EXCERPT] or None,
            error=None,
            duration_ms=_ms(started),
        )


async def _capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """At most ``limit`` bytes of the answer (the connection is closed if more was sent)."""
    read = bytearray()
    while len(read) < limit:
        chunk = await response.content.read(limit - len(read))
        if not chunk:
            break
        read += chunk
    return bytes(read)


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _failed(started: float, error: str) -> Answer:
    return Answer(None, None, None, error[:MAX_ERROR], _ms(started))
