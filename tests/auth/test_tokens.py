from datetime import UTC, datetime, timedelta

import jwt
import pytest

from app.auth.principal import Principal, PrincipalKind, Role
from app.auth.tokens import decode_token, mint_token
from app.config import Settings
from app.errors import DomainError, ErrorCode

SETTINGS = Settings(jwt_secret="s" * 40, _env_file=None)  # type: ignore[call-arg]


def refused(token: str, settings: Settings = SETTINGS) -> str:
    with pytest.raises(DomainError) as error:
        decode_token(settings, token)
    assert error.value.code is ErrorCode.UNAUTHENTICATED
    return error.value.message


def test_member_and_staff_tokens_round_trip() -> None:
    assert decode_token(SETTINGS, mint_token(SETTINGS, "member:42", [])) == Principal.member(42)
    staff = decode_token(SETTINGS, mint_token(SETTINGS, "staff:alice", ["admin", "analyst"]))
    assert staff.kind is PrincipalKind.STAFF
    assert staff.roles == {Role.ADMIN, Role.ANALYST}
    assert staff.to_actor().principal == "staff:alice"
    assert staff.to_actor().source == "api"


def test_expired_forged_and_foreign_tokens_are_refused() -> None:
    long_ago = datetime.now(UTC) - timedelta(days=1)
    expired = mint_token(SETTINGS, "member:1", [], issued_at=long_ago, ttl_seconds=60)
    assert "expired" in refused(expired)
    forged = mint_token(
        SETTINGS.model_copy(update={"jwt_secret": "f" * 40}), "staff:eve", ["admin"]
    )
    assert "invalid" in refused(forged)
    foreign = mint_token(SETTINGS.model_copy(update={"jwt_issuer": "elsewhere"}), "member:1", [])
    assert "issued by someone else" in refused(foreign)
    assert "invalid" in refused("not.a.jwt")


def test_unsigned_and_other_algorithms_are_refused() -> None:
    claims = {"sub": "staff:eve", "roles": ["admin"], "iss": "jifen", "iat": 1, "exp": 2**40}
    assert "invalid" in refused(jwt.encode(claims, None, algorithm="none"))
    # 64 bytes: HS512 warns about a shorter key (and the token must fail on its algorithm).
    assert "invalid" in refused(jwt.encode(claims, "s" * 64, algorithm="HS512"))


def test_bad_subjects() -> None:
    with pytest.raises(ValueError):
        mint_token(SETTINGS, "partner:x", [])
    with pytest.raises(ValueError):
        mint_token(SETTINGS, "member:0", [])
    with pytest.raises(ValueError):
        mint_token(SETTINGS, "member:1", ["admin"])
    with pytest.raises(ValueError):
        mint_token(SETTINGS, "staff:bob", ["root"])
    claims = {"sub": "member:abc", "iss": "jifen", "iat": 1, "exp": 2**40}
    assert "subject" in refused(jwt.encode(claims, "s" * 40, algorithm="HS256"))


def test_unknown_roles_in_a_token_are_ignored_not_trusted() -> None:
    claims = {
        "sub": "staff:bob",
        "roles": ["root", "analyst"],
        "iss": "jifen",
        "iat": 1,
        "exp": 2**40,
    }
    principal = decode_token(SETTINGS, jwt.encode(claims, "s" * 40, algorithm="HS256"))
    assert principal.roles == {Role.ANALYST}


def test_no_secret_means_no_token_is_trusted() -> None:
    token = mint_token(SETTINGS, "member:1", [])
    unset = SETTINGS.model_copy(update={"jwt_secret": None})
    assert "not configured" in refused(token, unset)
