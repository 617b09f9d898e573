"""The console's and the widgets' routes: the session endpoint and the static front end.

The front end is plain ES modules and CSS under ``static/`` (no build step, nothing fetched from
a CDN); the chart library and GraphiQL's files are vendored there, pinned by
``static/vendor/package-lock.json``.
Widget files are served with ``Access-Control-Allow-Origin: *``: a brand's page on another origin
loads them as module scripts (docs/WIDGETS.md).
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from app.console.session import session_endpoint

STATIC = Path(__file__).parent / "static"
# The console's page may only run its own scripts and talk to its own origin.
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'"
)


async def console_page(request: Request) -> Response:
    return FileResponse(
        STATIC / "index.html",
        headers={
            "Content-Security-Policy": CONSOLE_CSP,
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-cache",
        },
    )


# GraphiQL's page (at /graphql in a browser) loads only Jifen's own copies of its files.
GRAPHIQL_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self' ws: wss:; "
    "frame-ancestors 'none'"
)


async def graphiql_page(request: Request) -> Response:
    return FileResponse(
        STATIC / "graphiql" / "index.html",
        headers={"Content-Security-Policy": GRAPHIQL_CSP, "Cache-Control": "no-cache"},
    )


async def to_console(request: Request) -> Response:
    return RedirectResponse("/console", status_code=307)


class SharedStaticFiles(StaticFiles):
    """Static files any origin may load (the widgets' scripts)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_cors(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])  # type: ignore[call-overload]
                headers.append((b"access-control-allow-origin", b"*"))
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, send_with_cors)  # type: ignore[arg-type]


def console_routes() -> list[BaseRoute]:
    return [
        Route("/console", console_page),
        Route("/console/", to_console),
        Route("/console/session", session_endpoint, methods=["GET", "POST", "DELETE"]),
        Mount("/console/static", StaticFiles(directory=STATIC), name="console-static"),
        Mount("/widgets", SharedStaticFiles(directory=STATIC / "widgets"), name="widgets"),
    ]
