"""Programme configuration (earning rules, tier definitions) cached per process.

Rules and tiers are small tables read by every purchase. Each is cached with its table's
*generation*: the row count and the newest ``xmin`` (the id of the transaction that last wrote
a row). Any insert or update writes a row with a newer ``xmin``; a delete lowers the count — so
an unchanged generation means an unchanged table. Transaction ids are cluster-wide and never
reused by another table's or database's write, so the cache cannot mistake one database's rules
for another's.

The generation is read inside a statement the use case runs anyway (after the member's lock),
so the check costs no round trip, and a change is seen by the very next purchase on every
replica — no TTL, no invalidation message.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from sqlalchemy import Table, func, literal_column, select

T = TypeVar("T")


def generation_of(table: Table) -> Any:
    """A scalar subquery: ``"<rows>:<newest xmin>"`` of ``table``."""
    newest: Any = func.max(literal_column(f"{table.name}.xmin::text::bigint"))
    return (
        select(func.concat(func.count(), ":", func.coalesce(newest, 0)))
        .select_from(table)
        .scalar_subquery()
    )


class GenerationCache(Generic[T]):
    """One value per generation: kept while the generation is the one it was built at."""

    def __init__(self) -> None:
        self._generation: str | None = None
        self._value: T | None = None

    def get(self, generation: str | None) -> T | None:
        if generation is None or generation != self._generation:
            return None
        return self._value

    def put(self, generation: str, value: T) -> T:
        self._generation, self._value = generation, value
        return value

    def kept(self) -> tuple[str, T] | None:
        """The generation and the value kept at it (None before the first ``put``)."""
        if self._generation is None or self._value is None:
            return None
        return self._generation, self._value

    def latest(self) -> T | None:
        """The last value kept, whatever its generation (to be checked before it is trusted)."""
        return self._value
