"""Hooks: how a domain lower in the layer order (docs/ARCHITECTURE.md) reaches one above it
without importing it.

The lower domain declares a :class:`Hook` (it announces something: "a purchase was recorded") or
a :class:`Slot` (it needs one thing done that a domain above owns: "grant a draw ticket"). The
domain above registers itself when its package is imported — the way the mall and lifecycle
register their audit checks — and ``app.tables`` imports every domain, so every process that
has the schema has the hooks. Registration order is the import order of the packages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, ParamSpec, TypeVar

P = ParamSpec("P")
F = TypeVar("F")


class Hook(Generic[P]):
    """Listeners told of one kind of happening, awaited one after the other with the same
    arguments, inside the caller's unit of work (a listener that fails rolls the whole write
    back). A listener must not add round trips to a hot path it does not need."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._listeners: list[Callable[P, Awaitable[None]]] = []

    def register(self, listener: Callable[P, Awaitable[None]]) -> None:
        if listener not in self._listeners:  # a package imported twice registers once
            self._listeners.append(listener)

    @property
    def listeners(self) -> tuple[Callable[P, Awaitable[None]], ...]:
        return tuple(self._listeners)

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for listener in self._listeners:
            await listener(*args, **kwargs)


class Slot(Generic[F]):
    """One function a lower domain calls and a domain above provides."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._provided: F | None = None

    def provide(self, function: F) -> None:
        self._provided = function

    def __call__(self) -> F:
        if self._provided is None:
            raise RuntimeError(f"nothing provides {self.name}: import app.tables first")
        return self._provided
