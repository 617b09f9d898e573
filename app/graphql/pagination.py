"""Cursor connections (``first`` / ``after``) with opaque base64 cursors.

A cursor wraps the id of the last row of a page with a tag naming the list, so a history cursor
cannot be replayed against lots. A cursor we cannot read is ``INVALID_INPUT``.
"""

from __future__ import annotations

import base64
import binascii
import re

import strawberry

from app.db import MAX_ID
from app.errors import invalid

DEFAULT_PAGE_SIZE = 20
_DIGITS = re.compile(r"[0-9]{1,19}")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


def encode_cursor(tag: str, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{tag}:{row_id}".encode()).decode()


def decode_cursor(tag: str, cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        found, _, raw_id = text.partition(":")
        row_id = int(raw_id)
    except (binascii.Error, UnicodeError, ValueError):
        raise invalid("the cursor is not one this list gave out", "after") from None
    if found != tag or not 1 <= row_id <= MAX_ID:
        raise invalid("the cursor is not one this list gave out", "after")
    return row_id


def page_size(first: int | None, cap: int) -> int:
    size = DEFAULT_PAGE_SIZE if first is None else first
    if not 1 <= size <= cap:
        raise invalid(f"first must be between 1 and {cap}", "first")
    return size


def parse_id(raw: str, field: str) -> int:
    """GraphQL ``ID`` → our integer id; anything else is INVALID_INPUT, never a crash."""
    if not _DIGITS.fullmatch(raw):
        raise invalid(f"{field} must be an integer id, not {raw[:40]!r}", field)
    value = int(raw)
    if not 1 <= value <= MAX_ID:
        raise invalid(f"{field} is out of range", field)
    return value
