"""`Memo`: answers kept for a while by key, bounded, with one fetch in flight per key.

What `FeideAPI` keeps per caller token: Feide's answers and exchanged tokens.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Memo(Generic[T]):
    """Answers by key, each for as long as its fetch says, at most `size` of them; one fetch
    in flight per key, shared by every caller that asks meanwhile.

    Full, it drops the oldest answer first (O(1)): with one lifetime for all, the oldest is
    also the first to expire. A failure is not kept: the next caller asks again.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._kept: OrderedDict[bytes, tuple[T, float]] = OrderedDict()
        self._flights: dict[bytes, asyncio.Task[T]] = {}

    async def get(self, key: bytes, fetch: Callable[[], Awaitable[tuple[T, float]]]) -> T:
        kept = self._kept.get(key)
        if kept is not None:
            if time.monotonic() < kept[1]:
                return kept[0]
            del self._kept[key]
        loop = asyncio.get_running_loop()
        task = self._flights.get(key)
        if task is None or task.get_loop() is not loop:  # a task belongs to one event loop
            task = loop.create_task(self._fill(key, fetch))
            task.add_done_callback(_retrieved)
            self._flights[key] = task
        # Shielded: a caller that goes away does not cancel the fetch the others wait for.
        return await asyncio.shield(task)

    async def _fill(self, key: bytes, fetch: Callable[[], Awaitable[tuple[T, float]]]) -> T:
        try:
            value, seconds = await fetch()
        finally:
            if self._flights.get(key) is asyncio.current_task():
                del self._flights[key]
        if seconds > 0 and self.size > 0:
            self._kept.pop(key, None)
            while len(self._kept) >= self.size:
                self._kept.popitem(last=False)
            self._kept[key] = (value, time.monotonic() + seconds)
        return value


def _retrieved(task: asyncio.Task[Any]) -> None:
    """Mark a fetch's failure as seen: every waiter may have gone."""
    if not task.cancelled():
        task.exception()
