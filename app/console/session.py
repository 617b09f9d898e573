"""Console sign-in and sign-out over HTTP (docs/CONSOLE.md, "Sessions").

``POST /console/session`` with ``{"name", "password"}`` checks the password through the failed-
credential guard and answers the staff member, role, expiry and the session's CSRF token, setting
the session cookie (HttpOnly, SameSite=Strict, Secure in production). ``GET`` answers the same for
the cookie's session (a reloaded page gets its CSRF token back); ``DELETE`` signs out (it needs
the CSRF token like every other use of the cookie).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response

from app.auth.credentials import ConsoleSession
from app.auth.guard import Throttled, credential_guard
from app.auth.principal import Principal
from app.auth.staff import (
    CSRF_REFUSED,
    check_name,
    csrf_matches,
    csrf_token,
    end_session,
    open_session,
)
from app.db import unit_of_work
from app.errors import DomainError, ErrorCode
from app.runtime import Runtime

COOKIE = "jifen_console"
CSRF_HEADER = "x-csrf-token"
MAX_SIGN_IN_BYTES = 4096


def console_session(connection: HTTPConnection, csrf: str | None) -> ConsoleSession | None:
    """The cookie's session with the CSRF token presented beside it; None without a cookie."""
    token = connection.cookies.get(COOKIE)
    return ConsoleSession(token, csrf) if token else None


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _refusal(error: DomainError) -> JSONResponse:
    status = {
        ErrorCode.UNAUTHENTICATED: 401,
        ErrorCode.RATE_LIMITED: 429,
        ErrorCode.INVALID_INPUT: 400,
    }.get(error.code, 400)
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, Throttled) else None
    body = {"error": {"code": error.code.value, "message": error.message, "field": error.field}}
    return JSONResponse(body, status_code=status, headers=headers)


def _answer(principal: Principal, csrf: str, expires_at: datetime | None) -> dict[str, object]:
    return {
        "name": principal.staff_name,
        "role": sorted(role.value for role in principal.roles)[0],
        "csrfToken": csrf,
        "expiresAt": expires_at.isoformat() if expires_at else None,
    }


async def _credentials(request: Request) -> tuple[str, str]:
    body = await request.body()
    if len(body) > MAX_SIGN_IN_BYTES:
        raise DomainError(ErrorCode.INVALID_INPUT, "the sign-in request is too large")
    try:
        data = json.loads(body)
    except ValueError:
        raise DomainError(ErrorCode.INVALID_INPUT, "send JSON: {name, password}") from None
    name = data.get("name") if isinstance(data, dict) else None
    password = data.get("password") if isinstance(data, dict) else None
    if not isinstance(name, str) or not isinstance(password, str):
        raise DomainError(ErrorCode.INVALID_INPUT, "send JSON: {name, password}")
    check_name(name)
    return name, password


async def sign_in(request: Request) -> Response:
    rt = _runtime(request)
    try:
        name, password = await _credentials(request)
        principal = await credential_guard(rt).check_password(rt, _client(request), name, password)
        async with unit_of_work(rt.engine) as conn:
            session = await open_session(
                conn,
                principal,
                now=datetime.now(UTC),
                ttl_seconds=rt.settings.console_session_seconds,
            )
    except DomainError as error:
        return _refusal(error)
    response = JSONResponse(_answer(session.principal, session.csrf, session.expires_at))
    response.set_cookie(
        COOKIE,
        session.token,
        max_age=rt.settings.console_session_seconds,
        path="/",
        secure=rt.settings.is_production,
        httponly=True,
        samesite="strict",
    )
    return response


async def current(request: Request) -> Response:
    rt = _runtime(request)
    token = request.cookies.get(COOKIE)
    if not token:
        return _refusal(DomainError(ErrorCode.UNAUTHENTICATED, "not signed in"))
    try:
        # The CSRF token is what this answers: derive it so that the check lets the read pass.
        principal = await credential_guard(rt).authenticate(
            rt,
            _client(request),
            authorization=None,
            api_key=None,
            session=ConsoleSession(token, csrf_token(token)),
        )
    except DomainError as error:
        return _refusal(error)
    return JSONResponse(_answer(principal, csrf_token(token), principal.expires_at))


async def sign_out(request: Request) -> Response:
    rt = _runtime(request)
    token = request.cookies.get(COOKIE)
    if token:
        # Without the CSRF token another site could sign the operator out: refuse it.
        if not csrf_matches(token, request.headers.get(CSRF_HEADER)):
            return _refusal(DomainError(ErrorCode.UNAUTHENTICATED, CSRF_REFUSED))
        async with unit_of_work(rt.engine) as conn:
            await end_session(conn, token)
    response = JSONResponse({"signedOut": True})
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


async def session_endpoint(request: Request) -> Response:
    if request.method == "POST":
        return await sign_in(request)
    if request.method == "DELETE":
        return await sign_out(request)
    return await current(request)
