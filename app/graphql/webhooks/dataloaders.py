"""Webhooks' DataLoaders: an endpoint list's messages and delivery logs, a statement per list
field for the whole page (``info.context.loaders.of``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from app.auth.principal import Principal
from app.errors import not_found
from app.runtime import Runtime
from app.webhooks import usecases
from app.webhooks.endpoints import ENDPOINT
from app.webhooks.models import Attempt, Message

Row = TypeVar("Row")


@dataclass(frozen=True)
class LogPage:
    """A page of one endpoint's messages or attempts, as a nested list field asks it; the
    caller is part of the key: the page is read as theirs (ownership checked in the read)."""

    actor: Principal
    endpoint_id: int
    before_id: int | None
    limit: int
    status: str | None = None  # messages only


# The pages of many endpoints with the same paging in one statement; an endpoint missing from
# the answer is not the caller's (or does not exist).
PagesOf = Callable[[Runtime, Sequence[int], LogPage], Awaitable[Mapping[int, list[Row]]]]


async def _pages(
    rt: Runtime, keys: list[LogPage], pages_of: PagesOf[Row]
) -> list[list[Row] | BaseException]:
    """One statement per distinct caller and paging among ``keys`` (one, when a list asks every
    endpoint the same page)."""
    groups: dict[LogPage, list[int]] = defaultdict(list)
    for key in keys:
        groups[LogPage(key.actor, 0, key.before_id, key.limit, key.status)].append(key.endpoint_id)
    found: dict[LogPage, list[Row]] = {}
    for sample, endpoint_ids in groups.items():
        for endpoint_id, rows in (await pages_of(rt, endpoint_ids, sample)).items():
            found[
                LogPage(sample.actor, endpoint_id, sample.before_id, sample.limit, sample.status)
            ] = rows
    return [
        found[key] if key in found else not_found(ENDPOINT, key.endpoint_id, "endpointId")
        for key in keys
    ]


async def _attempts_of(
    rt: Runtime, ids: Sequence[int], page: LogPage
) -> Mapping[int, list[Attempt]]:
    return await usecases.list_attempts(
        rt, page.actor, ids, before_id=page.before_id, limit=page.limit
    )


async def _messages_of(
    rt: Runtime, ids: Sequence[int], page: LogPage
) -> Mapping[int, list[Message]]:
    return await usecases.list_messages(
        rt, page.actor, ids, before_id=page.before_id, limit=page.limit, status=page.status
    )


async def endpoint_attempts(
    rt: Runtime, keys: list[LogPage]
) -> list[list[Attempt] | BaseException]:
    return await _pages(rt, keys, _attempts_of)


async def endpoint_messages(
    rt: Runtime, keys: list[LogPage]
) -> list[list[Message] | BaseException]:
    return await _pages(rt, keys, _messages_of)
