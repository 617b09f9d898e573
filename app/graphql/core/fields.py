"""Typed shorthands for described fields, and our integer ids as GraphQL ``ID`` values.

``@strawberry.field(description=...)`` is typed as returning ``Any``, which mypy --strict
rejects as an untyped decorator; these give the same field with a real type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from strawberry.types.field import StrawberryField

Resolver = Callable[..., Any]


def described_field(description: str) -> Callable[[Resolver], StrawberryField]:
    def wrap(resolver: Resolver) -> StrawberryField:
        return strawberry.field(resolver, description=description)

    return wrap


def described_mutation(description: str) -> Callable[[Resolver], StrawberryField]:
    def wrap(resolver: Resolver) -> StrawberryField:
        return strawberry.mutation(resolver, description=description)

    return wrap


def described_subscription(description: str) -> Callable[[Resolver], StrawberryField]:
    def wrap(resolver: Resolver) -> StrawberryField:
        return strawberry.subscription(resolver, description=description)

    return wrap


def node_id(value: int) -> strawberry.ID:
    return strawberry.ID(str(value))


def optional_id(value: int | None) -> strawberry.ID | None:
    return None if value is None else node_id(value)
