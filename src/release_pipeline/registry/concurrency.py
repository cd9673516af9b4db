"""Bounded concurrency for independent steps, failing like a sequential loop would."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from release_pipeline.errors import ReleaseError

T = TypeVar("T")
A = TypeVar("A")
LIMIT = 8  # parallel requests per stage: enough for 4+ platforms, polite to registries


async def map_concurrently(fn: Callable[[A], Awaitable[T]], items: list[A]) -> list[T]:
    """`[await fn(x) for x in items]`, run concurrently (at most LIMIT at once).

    The first failure cancels the rest and is raised as itself, not wrapped in an
    ExceptionGroup, so callers and users see one clear error.
    """
    results: list[T | None] = [None] * len(items)
    limiter = anyio.CapacityLimiter(LIMIT)

    async def run(i: int, item: A) -> None:
        async with limiter:
            results[i] = await fn(item)

    try:
        async with anyio.create_task_group() as group:
            for i, item in enumerate(items):
                group.start_soon(run, i, item)
    except ExceptionGroup as group_error:
        first = group_error.exceptions[0]
        while isinstance(first, ExceptionGroup):
            first = first.exceptions[0]
        if isinstance(first, ReleaseError):
            raise first from None
        raise
    return results  # type: ignore[return-value]
