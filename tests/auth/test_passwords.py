"""Staff passwords: argon2id hashes, a length policy, a miss that costs a verification."""

from __future__ import annotations

import pytest

from app.auth.passwords import MAX_PASSWORD, hash_password, verify
from app.errors import DomainError, ErrorCode


def test_a_hash_verifies_its_password_only() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$") and "correct" not in stored
    assert verify(stored, "correct horse battery").ok
    assert not verify(stored, "correct horse batterY").ok
    assert not verify(None, "correct horse battery").ok  # no such account
    assert not verify("not a hash", "correct horse battery").ok


@pytest.mark.parametrize("password", ["short", " " * 12, "x" * (MAX_PASSWORD + 1)])
def test_passwords_outside_the_policy_are_refused(password: str) -> None:
    with pytest.raises(DomainError) as refused:
        hash_password(password)
    assert refused.value.code is ErrorCode.INVALID_INPUT and refused.value.field == "password"


def test_a_hash_with_older_parameters_asks_for_a_rehash() -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8192).hash("correct horse battery")
    assert verify(weak, "correct horse battery").rehash
    assert not verify(hash_password("correct horse battery"), "correct horse battery").rehash
