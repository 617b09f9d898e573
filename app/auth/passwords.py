"""Staff passwords: argon2id through argon2-cffi (its RFC 9106 low-memory profile), never stored
or logged in clear.

A password is checked against its policy here, before it is hashed; a stored hash made with older
parameters is rehashed at the next successful sign-in (:func:`verify` says when).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from app.errors import invalid

MIN_PASSWORD = 10
MAX_PASSWORD = 256  # argon2 takes any length; a cap keeps a sign-in from costing megabytes

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified when the name is unknown, so that a miss costs the same time as a wrong password
    and the time taken does not tell which names exist (made on first use: imports stay quick)."""
    return _hasher.hash("no such staff member")


@dataclass(frozen=True)
class Verified:
    ok: bool
    rehash: bool = False  # the hash's parameters are older than ours: store a new one


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise invalid(f"a password has at least {MIN_PASSWORD} characters", "password")
    if len(password) > MAX_PASSWORD:
        raise invalid(f"a password has at most {MAX_PASSWORD} characters", "password")
    if not password.strip():
        raise invalid("a password is not only spaces", "password")


def hash_password(password: str) -> str:
    check_password_policy(password)
    return _hasher.hash(password)


def verify(stored_hash: str | None, password: str) -> Verified:
    """Whether ``password`` matches ``stored_hash`` (None: no such account, still costs a hash)."""
    if len(password) > MAX_PASSWORD:
        return Verified(False)
    try:
        _hasher.verify(stored_hash or _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Verified(False)
    if stored_hash is None:
        return Verified(False)
    return Verified(True, rehash=_hasher.check_needs_rehash(stored_hash))
