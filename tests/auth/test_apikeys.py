import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.apikeys import authenticate_api_key, create_api_key, revoke_api_key
from app.auth.principal import Principal
from app.auth.tables import api_keys
from app.errors import DomainError, ErrorCode


async def refused(engine: AsyncEngine, raw: str) -> None:
    async with engine.connect() as conn:
        with pytest.raises(DomainError) as error:
            await authenticate_api_key(conn, raw)
    assert error.value.code is ErrorCode.UNAUTHENTICATED


async def test_a_key_authenticates_its_partner_and_channel(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        raw = await create_api_key(conn, "shop", "pos", ["points:earn", "members:read"])
    assert raw.startswith("jf_")
    async with engine.connect() as conn:
        principal = await authenticate_api_key(conn, raw)
        stored = (await conn.execute(api_keys.select())).one()
    assert principal == Principal.of_partner("shop", "pos", {"points:earn", "members:read"})
    assert principal.to_actor().source == "pos"
    assert principal.to_actor().principal == "partner:shop"
    secret = raw.split("_", 2)[2]
    assert secret not in stored.secret_hash  # only the hash is kept
    assert len(stored.secret_hash) == 64


async def test_wrong_malformed_and_revoked_keys_are_refused(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        raw = await create_api_key(conn, "shop", "pos", [])
    prefix = raw.split("_")[1]
    await refused(engine, raw[:-1] + ("A" if raw[-1] != "A" else "B"))
    await refused(engine, "jf_nosuchprefix_secret")
    await refused(engine, "not-a-key")
    async with engine.begin() as conn:
        assert await revoke_api_key(conn, prefix) is True
        assert await revoke_api_key(conn, prefix) is False
    await refused(engine, raw)


async def test_unknown_scopes_are_invalid(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        with pytest.raises(DomainError) as error:
            await create_api_key(conn, "shop", "pos", ["points:everything"])
    assert error.value.code is ErrorCode.INVALID_INPUT
