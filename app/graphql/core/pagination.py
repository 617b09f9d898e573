"""Cursor connections (``first`` / ``after``) with opaque base64 cursors.

A cursor wraps the id of the last row of a page with a tag naming the list, so a history cursor
cannot be replayed against lots. A cursor we cannot read is ``INVALID_INPUT``.

Every list is paged the one way, :class:`Page`: it reads ``first`` and ``after``, asks the use case
for one row more than the page (its presence is ``hasNextPage``) and builds the edges. A list's
types are ``class LotConnection(Connection[LotNode])``: the edge type is named after the node
(``LotEdge``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import strawberry

from app.db import MAX_ID
from app.errors import invalid

DEFAULT_PAGE_SIZE = 20


Node = TypeVar("Node")
Row = TypeVar("Row")
Conn = TypeVar("Conn", bound="Connection[Any]")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[Node]):
    cursor: str
    node: Node


@strawberry.type
class Connection(Generic[Node]):
    edges: list[Edge[Node]]
    page_info: PageInfo


def _row_id(row: Any) -> int:
    ident: int = row.id
    return ident


@dataclass(frozen=True)
class Page:
    """One page of a list, as the client asked for it."""

    tag: str  # names the list in its cursors
    size: int
    after: int | None  # the row id the cursor names: the page starts past it

    @classmethod
    def of(cls, tag: str, first: int | None, after: str | None, cap: int) -> Page:
        return cls(tag, page_size(first, cap), decode_cursor(tag, after))

    @property
    def fetch(self) -> int:
        """How many rows to read: one more than shown tells whether a next page exists."""
        return self.size + 1

    def shown(self, rows: Sequence[Row]) -> Sequence[Row]:
        return rows[: self.size]

    def edges(
        self,
        rows: Sequence[Row],
        node: Callable[[Row], Node],
        row_id: Callable[[Row], int] = _row_id,
    ) -> tuple[list[Edge[Node]], PageInfo]:
        edges = [
            Edge(cursor=encode_cursor(self.tag, row_id(row)), node=node(row))
            for row in self.shown(rows)
        ]
        end = edges[-1].cursor if edges else None
        return edges, PageInfo(has_next_page=len(rows) > self.size, end_cursor=end)

    def connection(
        self,
        kind: type[Conn],
        rows: Sequence[Row],
        node: Callable[[Row], Any],
        row_id: Callable[[Row], int] = _row_id,
    ) -> Conn:
        edges, info = self.edges(rows, node, row_id)
        return kind(edges=edges, page_info=info)


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
