"""Console sign-in: an HttpOnly cookie plus a CSRF token; wrong credentials go through the
failed-credential guard; sessions expire, end on sign-out, on disable and on a password reset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.auth.principal import Principal, Role
from app.auth.staff import disable_staff, open_session, reset_password
from app.console.session import COOKIE
from app.runtime import Runtime
from app.web import create_app
from tests.console.conftest import PASSWORD, add_staff

JOBS = "{ jobs { name } }"
ADJUST = """mutation { adjustPoints(input: {memberId: "1", amount: 5, reason: "r",
  idempotencyKey: "k1"}) { __typename ... on MutationError { code } } }"""


async def sign_in(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/console/session", json={"name": name, "password": password})


async def graphql(
    client: httpx.AsyncClient, query: str, csrf: str | None
) -> tuple[int, dict[str, Any]]:
    headers = {"X-CSRF-Token": csrf} if csrf is not None else {}
    response = await client.post("/graphql", json={"query": query}, headers=headers)
    return response.status_code, response.json()


async def test_sign_in_sets_an_httponly_strict_cookie_and_graphql_answers_as_that_staff(
    app_runtime: Runtime, browser: httpx.AsyncClient
) -> None:
    await add_staff(app_runtime, "li.wei", Role.OPERATOR)
    response = await sign_in(browser, "li.wei")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "li.wei" and body["role"] == "operator"
    cookie = response.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert body["csrfToken"] not in cookie  # the CSRF token is not the cookie

    status, answer = await graphql(browser, JOBS, body["csrfToken"])
    assert status == 200 and "errors" not in answer, answer

    again = await browser.get("/console/session")  # a reloaded page gets its CSRF token back
    assert again.status_code == 200 and again.json()["csrfToken"] == body["csrfToken"]


async def test_a_cookie_without_its_csrf_token_is_refused(
    app_runtime: Runtime, browser: httpx.AsyncClient
) -> None:
    await add_staff(app_runtime, "li.wei", Role.ADMIN)
    csrf = (await sign_in(browser, "li.wei")).json()["csrfToken"]
    for presented in (None, "0" * 64, csrf[:-1] + ("0" if csrf[-1] != "0" else "1")):
        status, answer = await graphql(browser, JOBS, presented)
        assert status == 401, (presented, answer)
        assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "CSRF" in answer["errors"][0]["message"]
    # Nor can another page sign the operator out without it.
    assert (await browser.delete("/console/session")).status_code == 401
    assert (await graphql(browser, JOBS, csrf))[0] == 200


@pytest.mark.parametrize("name,password", [("li.wei", "wrong password!"), ("nobody", PASSWORD)])
async def test_wrong_credentials_are_refused_alike_and_set_no_cookie(
    app_runtime: Runtime, browser: httpx.AsyncClient, name: str, password: str
) -> None:
    await add_staff(app_runtime, "li.wei", Role.ADMIN)
    response = await sign_in(browser, name, password)
    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "UNAUTHENTICATED",
        "message": "wrong name or password",
        "field": None,
    }
    assert "set-cookie" not in response.headers
    assert (await browser.get("/console/session")).status_code == 401


async def test_malformed_sign_ins_are_refused_as_input(browser: httpx.AsyncClient) -> None:
    for body in (
        b"not json",
        b"[]",
        b'{"name": 1, "password": "x"}',
        b'{"name": "a b", "password": "x"}',
    ):
        response = await browser.post("/console/session", content=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "INVALID_INPUT"


async def test_a_disabled_account_cannot_sign_in_and_its_open_session_ends(
    app_runtime: Runtime, browser: httpx.AsyncClient
) -> None:
    await add_staff(app_runtime, "li.wei", Role.ADMIN)
    csrf = (await sign_in(browser, "li.wei")).json()["csrfToken"]
    async with app_runtime.engine.begin() as conn:
        assert await disable_staff(conn, "li.wei")
        assert not await disable_staff(conn, "li.wei")  # already disabled
    status, answer = await graphql(browser, JOBS, csrf)
    assert status == 401 and "ended" in answer["errors"][0]["message"]
    assert (await sign_in(browser, "li.wei")).status_code == 401


async def test_a_password_reset_ends_sessions_and_the_old_password(
    app_runtime: Runtime, browser: httpx.AsyncClient
) -> None:
    await add_staff(app_runtime, "li.wei", Role.ADMIN)
    csrf = (await sign_in(browser, "li.wei")).json()["csrfToken"]
    async with app_runtime.engine.begin() as conn:
        assert await reset_password(conn, "li.wei", "a new password 2")
    assert (await graphql(browser, JOBS, csrf))[0] == 401
    assert (await sign_in(browser, "li.wei")).status_code == 401
    assert (await sign_in(browser, "li.wei", "a new password 2")).status_code == 200


async def test_an_expired_session_is_refused(
    app_runtime: Runtime, browser: httpx.AsyncClient
) -> None:
    await add_staff(app_runtime, "li.wei", Role.ADMIN)
    signed_at = datetime.now(UTC) - timedelta(hours=9)
    async with app_runtime.engine.begin() as conn:
        session = await open_session(
            conn, Principal.staff("li.wei", {Role.ADMIN}), now=signed_at, ttl_seconds=8 * 3600
        )
    browser.cookies.set(COOKIE, session.token)
    status, answer = await graphql(browser, JOBS, session.csrf)
    assert status == 401 and "expired" in answer["errors"][0]["message"]


async def test_sign_out_ends_the_session(app_runtime: Runtime, browser: httpx.AsyncClient) -> None:
    await add_staff(app_runtime, "li.wei", Role.ADMIN)
    response = await sign_in(browser, "li.wei")
    csrf, token = response.json()["csrfToken"], response.cookies[COOKIE]
    signed_out = await browser.delete("/console/session", headers={"X-CSRF-Token": csrf})
    assert signed_out.status_code == 200
    browser.cookies.set(COOKIE, token)  # a copy of the cookie kept by someone
    assert (await graphql(browser, JOBS, csrf))[0] == 401


async def test_an_analyst_reads_and_is_forbidden_to_write(
    app_runtime: Runtime, browser: httpx.AsyncClient
) -> None:
    await add_staff(app_runtime, "zhao", Role.ANALYST)
    csrf = (await sign_in(browser, "zhao")).json()["csrfToken"]
    assert (await graphql(browser, JOBS, csrf))[0] == 200
    status, answer = await graphql(browser, ADJUST, csrf)
    assert status == 200
    assert answer["data"]["adjustPoints"] == {"__typename": "MutationError", "code": "FORBIDDEN"}


async def test_repeated_wrong_passwords_for_one_name_are_throttled(
    app: Starlette, app_runtime: Runtime
) -> None:
    await add_staff(app_runtime, "li.wei", Role.ADMIN)
    settings = app_runtime.settings.model_copy(update={"auth_failures_per_key": "3/minute"})
    throttled_app = create_app(settings)
    async with throttled_app.router.lifespan_context(throttled_app):
        # Each guess from another address: the per-name count, not the per-address one, stops it.
        statuses = []
        for attempt in range(5):
            transport = httpx.ASGITransport(app=throttled_app, client=(f"10.0.0.{attempt}", 1))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                statuses.append((await sign_in(client, "li.wei", "wrong password!")).status_code)
        assert statuses[:3] == [401, 401, 401] and statuses[3:] == [429, 429]
        # Past the limit even the right password is not checked.
        transport = httpx.ASGITransport(app=throttled_app, client=("10.0.0.9", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            refused = await sign_in(client, "li.wei")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
