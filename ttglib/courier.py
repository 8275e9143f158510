"""The courier: a worker's next round trip to Redis, made in the background.

A worker that waits for Redis between two chunks idles for a round trip per
chunk: with 10 ms chunks on a busy machine, a tenth of its time. So while the
last chunk it holds nears its end, the worker gives the results waiting so
far to a :class:`Courier`, which hands them in and reads the next tasks in one
round trip on a background thread. When the chunk ends, the next one is at
hand.

Note:
    The tasks read ahead are held (and leased) a few milliseconds before
    their computation starts; the worker starts a round trip only when the
    current chunk is expected to end within ``worker.LOOKAHEAD_SECONDS``, so a long
    chunk never keeps a task from another worker for long.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from ttglib.queue import ChunkResult, Task


@dataclass
class Exchange:
    """One round trip: results handed in, what became of them, tasks read."""

    results: list[ChunkResult]
    stored: list[bool]
    tasks: list[Task]


class Courier:
    """Makes the worker's next round trip on a background thread.

    The worker starts it while computing the last chunk it holds; the results
    waiting so far and the next XREADGROUP go to Redis in one round trip, so
    the round trip is hidden behind the chunk's computation.
    """

    def __init__(self, exchange: Callable[[list[ChunkResult], int], Exchange]) -> None:
        self.exchange = exchange
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="courier")
        self.future: Future[Exchange] | None = None

    @property
    def busy(self) -> bool:
        """A round trip has been started and not collected."""
        return self.future is not None

    def send(self, results: list[ChunkResult], count: int) -> None:
        """Start a round trip: hand ``results`` in and read up to ``count`` tasks."""
        self.future = self.pool.submit(self.exchange, results, count)

    def collect(self) -> Exchange | None:
        """Wait for the started round trip, if any, and return what it did."""
        future, self.future = self.future, None
        return None if future is None else future.result()

    def close(self) -> None:
        """Stop the background thread."""
        self.pool.shutdown(wait=True)
