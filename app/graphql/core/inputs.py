"""Input values as the domain takes them: integer ids, times with their offset."""

from __future__ import annotations

import re
from datetime import datetime

from app.db import MAX_ID
from app.errors import invalid

_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_id(raw: str, field: str) -> int:
    """GraphQL ``ID`` → our integer id; anything else is INVALID_INPUT, never a crash."""
    if not _DIGITS.fullmatch(raw):
        raise invalid(f"{field} must be an integer id, not {raw[:40]!r}", field)
    value = int(raw)
    if not 1 <= value <= MAX_ID:
        raise invalid(f"{field} is out of range", field)
    return value


def aware(value: datetime | None, field: str) -> datetime | None:
    """A time without an offset is refused: the programme's clock is not the caller's."""
    if value is not None and value.tzinfo is None:
        raise invalid("give a time zone offset (e.g. 2026-11-23T10:00:00+08:00)", field)
    return value
