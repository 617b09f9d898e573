"""Property test over the whole schema: generated queries and mutations (hypothesis-graphql),
hostile strings and decimals included, sent as staff, as a member and as a partner key.

Whatever comes in: no 5xx, no INTERNAL_SERVER_ERROR, and the ledger audit passes afterwards.
Each caller only gets the operations its permissions let it call, so the resolvers are
reached rather than refused at the door. The budget is bounded (``EXAMPLES`` per caller,
derandomized so CI sees the same inputs every run); about 60 s in all on the project machine.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from functools import cache
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema
from starlette.applications import Starlette

from app.auth.permissions import PARTNER_SCOPES, PERMISSIONS, allows
from app.auth.principal import Principal, Role
from app.clock import FrozenClock
from app.config import Settings
from app.graphql.schema import build_schema
from app.runtime import Runtime
from app.seed import seed_demo
from app.web import create_app
from tests.graphql.conftest import Api, assert_audit_clean

# Per caller: three callers, ~60 s in all. JIFEN_FUZZ_EXAMPLES=2000 JIFEN_FUZZ_RANDOM=1 hunts
# longer, with fresh inputs each run.
EXAMPLES = int(os.environ.get("JIFEN_FUZZ_EXAMPLES", "110"))
DERANDOMIZE = not os.environ.get("JIFEN_FUZZ_RANDOM")

# Values no column can hold, or that no parser should choke on, next to ordinary ones.
HOSTILE_DECIMALS = ["NaN", "sNaN", "-Infinity", "Infinity", "1e400", "1E-400", "-0", "1e12"]
HOSTILE_STRINGS = ["", " ", "\x00", "a\x00b", "9" * 30, "-1", "0", "1", "2", "${}", "' OR 1=1 --"]


def _string(value: str) -> graphql.StringValueNode:
    return graphql.StringValueNode(value=value)


def _json_literal(value: Any) -> graphql.ValueNode:
    if isinstance(value, dict):
        return graphql.ObjectValueNode(
            fields=tuple(
                graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=_json_literal(v))
                for k, v in value.items()
            )
        )
    if isinstance(value, list):
        return graphql.ListValueNode(values=tuple(_json_literal(v) for v in value))
    if isinstance(value, bool):
        return graphql.BooleanValueNode(value=value)
    if isinstance(value, int):
        return graphql.IntValueNode(value=str(value))
    if value is None:
        return graphql.NullValueNode()
    return _string(str(value))


_NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31 - 1) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_NAMES, inner, max_size=3),
    max_leaves=8,
)
_DECIMALS = st.one_of(
    st.sampled_from(HOSTILE_DECIMALS),
    st.decimals(min_value=Decimal(-1000), max_value=Decimal(100_000), places=2).map(str),
    st.text(max_size=12),
).map(_string)
_DATES = st.one_of(st.dates().map(lambda d: d.isoformat()), st.text(max_size=12)).map(_string)
_DATETIMES = st.one_of(
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),  # naive: refused, never a crash
    st.text(max_size=20),
).map(_string)
CUSTOM_SCALARS = {
    "Decimal": _DECIMALS,
    "JSON": _JSON_VALUES.map(_json_literal),
    "Date": _DATES,
    "DateTime": _DATETIMES,
}


def _operations(principal: Principal) -> list[str]:
    schema = build_schema(Settings(_env_file=None))  # type: ignore[call-arg]  # printing only
    roots = [schema._schema.query_type, schema._schema.mutation_type]
    names = [name for root in roots if root for name in root.fields]
    return [name for name in names if name in PERMISSIONS and allows(principal, name)]


@pytest.fixture
async def fuzz_api(settings: Settings, clock: FrozenClock) -> AsyncIterator[Api]:
    # Budgets high enough that the rate limiter never answers instead of the resolvers.
    roomy = settings.model_copy(
        update={"rate_limit_member": "100000/minute", "rate_limit_partner": "100000/minute"}
    )
    app: Starlette = create_app(roomy, clock)
    async with app.router.lifespan_context(app):
        runtime: Runtime = app.state.runtime
        await seed_demo(runtime)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://jifen.test") as client:
            api = Api(client, roomy, runtime)
            yield api
            # After every example of the test that used this fixture.
            await assert_audit_clean(api)


async def _headers(api: Api, caller: str) -> tuple[Principal, dict[str, str]]:
    if caller == "staff":
        return Principal.staff("alice", {Role.ADMIN}), api.staff_headers()
    if caller == "member":
        return Principal.member(1), api.member_headers(1)  # the first demo member
    scopes = sorted(PARTNER_SCOPES)
    return (
        Principal.of_partner("shop", "pos", set(scopes)),
        await api.partner_headers(scopes, channel="pos"),
    )


def _no_server_error(response: httpx.Response, query: str) -> None:
    assert response.status_code < 500, (response.status_code, query, response.text[:500])
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        codes = [error.get("extensions", {}).get("code") for error in body.get("errors") or []]
        assert "INTERNAL_SERVER_ERROR" not in codes, (query, body)


@pytest.fixture(params=["staff", "member", "partner"])
async def caller(request: pytest.FixtureRequest, fuzz_api: Api) -> Caller:
    principal, headers = await _headers(fuzz_api, request.param)
    return Caller(principal, headers)


@dataclass(frozen=True)
class Caller:
    principal: Principal
    headers: dict[str, str]


@cache
def _operations_of(principal: Principal) -> st.SearchStrategy[str]:
    return from_schema(
        build_schema(Settings(_env_file=None))._schema,  # type: ignore[call-arg]
        fields=_operations(principal),
        custom_scalars=CUSTOM_SCALARS,
        allow_x00=True,
        codec=None,  # lone surrogates too
    )


@hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=DERANDOMIZE,
    database=None,
    suppress_health_check=list(HealthCheck),
    # No shrinking: it has no time bound. A failure prints the query that failed.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(data=st.data())
async def test_no_generated_operation_breaks_the_server(
    fuzz_api: Api, caller: Caller, data: st.DataObject
) -> None:
    query = data.draw(_operations_of(caller.principal), label="query")
    response = await fuzz_api.client.post(
        "/graphql",
        # ensure_ascii: a lone surrogate travels escaped, as any client would have to send it
        content=json.dumps({"query": query}),
        headers={"content-type": "application/json", **caller.headers},
    )
    _no_server_error(response, query)
