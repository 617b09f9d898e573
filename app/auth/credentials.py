"""From what a client presented (HTTP headers or a WebSocket ``connection_init`` payload) to a
principal.

No credential at all makes the caller anonymous (who may then call nothing but the health
checks). A credential that is present but wrong — a forged, expired or foreign token, a wrong or
revoked API key, or both kinds at once — is refused outright with ``UNAUTHENTICATED``: a client
with a broken credential should learn it at once, not be served as anonymous.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from app.auth.apikeys import authenticate_api_key
from app.auth.principal import ANONYMOUS, Principal
from app.auth.staff import CSRF_REFUSED, csrf_matches, session_principal
from app.auth.standing import in_standing, standing_later
from app.auth.tokens import decode_token
from app.auth.widgetkeys import authenticate_widget_key, is_widget_key
from app.errors import DomainError, ErrorCode
from app.runtime import Runtime


def _unauthenticated(message: str) -> DomainError:
    return DomainError(ErrorCode.UNAUTHENTICATED, message)


def bearer_token(authorization: str) -> str:
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthenticated("Authorization must be 'Bearer <token>'")
    return token.strip()


@dataclass(frozen=True)
class ConsoleSession:
    """The console's cookie and the CSRF token that must come with it (docs/CONSOLE.md)."""

    token: str
    csrf: str | None


async def authenticate(
    rt: Runtime,
    *,
    authorization: str | None,
    api_key: str | None,
    session: ConsoleSession | None = None,
    standing: bool = True,
) -> Principal:
    """``standing=False``: a member token's standing is left for the caller to read
    (:func:`app.auth.standing.standing_later`)."""
    if authorization and api_key:
        raise _unauthenticated("send either a bearer token or an API key, not both")
    if authorization:
        # A header names its caller explicitly: a console cookie beside it is not consulted.
        principal = decode_token(rt.settings, bearer_token(authorization))
        if not standing:
            return standing_later(principal)
        return await in_standing(rt, principal)
    if api_key:
        async with rt.engine.connect() as conn:
            if is_widget_key(api_key):
                return await authenticate_widget_key(conn, api_key)
            return await authenticate_api_key(conn, api_key)
    if session is not None:
        # Checked before the look-up: a request another site made the browser send carries the
        # cookie but cannot know the token (it is derived from the cookie's secret).
        if not csrf_matches(session.token, session.csrf):
            raise _unauthenticated(CSRF_REFUSED)
        async with rt.engine.connect() as conn:
            # Wall clock, as for token expiry: a security property, not business time.
            return await session_principal(conn, session.token, datetime.now(UTC))
    return ANONYMOUS


def _text(params: Mapping[str, object], *names: str) -> str | None:
    for name in names:
        value = params.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise _unauthenticated(f"{name} must be a string")
        return value
    return None


def connection_credentials(params: Mapping[str, object]) -> tuple[str | None, str | None]:
    """(authorization, api_key) from the ``connection_init`` payload of a WebSocket: the same
    credentials as the headers.

    Accepted keys: ``Authorization`` / ``authorization`` ("Bearer <jwt>"), ``token`` (a bare
    JWT), and ``X-Api-Key`` / ``apiKey``.
    """
    authorization = _text(params, "Authorization", "authorization")
    token = _text(params, "token")
    if token is not None:
        if authorization is not None:
            raise _unauthenticated("send either token or Authorization, not both")
        authorization = f"Bearer {token}"
    api_key = _text(params, "X-Api-Key", "x-api-key", "apiKey")
    return authorization, api_key
