"""The one way a test waits for something that happens in the background (a relay publishing, a
projector applying, a server starting): poll until the check holds, and fail with a clear message
when it does not within the time given. Never a bare sleep, never an assertion on duration."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
WITHIN = 5.0


async def eventually(
    check: Callable[[], T | Awaitable[T]], *, within: float = WITHIN, every: float = 0.02
) -> T:
    """Call ``check()`` (awaiting it if it is a coroutine function) until it returns something
    truthy, and return that."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        outcome = check()
        value: T = await outcome if inspect.isawaitable(outcome) else outcome
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not met within {within} s (last: {value!r})")
        await asyncio.sleep(every)


def eventually_blocking(check: Callable[[], T], *, within: float = WITHIN, every: float = 0.1) -> T:
    """The same for code that runs outside an event loop (a subprocess, a thread)."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not met within {within} s (last: {value!r})")
        time.sleep(every)
