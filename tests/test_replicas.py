"""Read replicas' pure parts: positions, the setting, whose writes a caller must see. Against a
real streaming replica: tests/replicas/."""

from __future__ import annotations

import pytest

from app.auth.principal import ANONYMOUS, Principal, Role
from app.config import Settings
from app.graphql.core.replicas import principal_key
from app.replicas import parse_lsn, replica_name


def test_a_position_reads_as_its_byte_offset() -> None:
    assert parse_lsn("0/0") == 0
    assert parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert parse_lsn("1/0") > parse_lsn("0/FFFFFFFF")


def test_a_malformed_position_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_lsn("nonsense")


@pytest.mark.parametrize(
    ("raw", "urls"),
    [
        ("", []),
        ("postgresql+asyncpg://a@r1/x", ["postgresql+asyncpg://a@r1/x"]),
        (
            "postgresql+asyncpg://a@r1/x, postgresql+asyncpg://a@r2:5433/x",
            [
                "postgresql+asyncpg://a@r1/x",
                "postgresql+asyncpg://a@r2:5433/x",
            ],
        ),
        ('["postgresql+asyncpg://a@r1/x"]', ["postgresql+asyncpg://a@r1/x"]),
    ],
)
def test_replica_urls_are_a_comma_separated_list_or_json(
    raw: str, urls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JIFEN_DATABASE_REPLICA_URLS", raw)
    assert Settings(_env_file=None).database_replica_urls == urls  # type: ignore[call-arg]


def test_a_replica_is_named_without_its_password() -> None:
    assert replica_name("postgresql+asyncpg://u:secret@db-r1:5433/jifen") == "db-r1:5433/jifen"
    assert replica_name("postgresql+asyncpg://u@db-r1/jifen") == "db-r1:5432/jifen"


def test_whose_writes_a_caller_must_see() -> None:
    assert principal_key(Principal.member(7)) == "member:7"
    assert principal_key(Principal.staff("alice", {Role.ADMIN})) == "staff:alice"
    assert principal_key(Principal.of_partner("shop", "pos", set())) == "partner:shop:pos"
    assert principal_key(ANONYMOUS) is None
