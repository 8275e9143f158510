"""Leases: a worker's claim on the tasks it holds, renewed while it works.

A task delivered to a worker stays pending in the consumer group until it is
acknowledged. Its idle time grows from the last delivery or claim; once it
exceeds the lease (``--lease-seconds``), any worker's XAUTOCLAIM may take it
over. :class:`LeaseKeeper` keeps a live worker's tasks young by renewing them
several times per lease, so a long chunk is never taken from a worker that is
still computing it, while a dead worker's tasks expire one lease after its
last renewal.

Note:
    A worker paused for longer than a lease (a stopped process, a machine
    that swaps) loses its tasks to others. Its late results are then
    suppressed as duplicates: nothing is counted twice, but the work is done
    twice.
"""

from __future__ import annotations

import logging
import threading

import redis

from ttglib.queue import RunQueue

logger = logging.getLogger(__name__)


class LeaseKeeper(threading.Thread):
    """Renews the worker's lease on every task it holds, a few times per lease."""

    def __init__(self, queue: RunQueue, consumer: str, every_seconds: float) -> None:
        super().__init__(name=f"lease-{consumer}", daemon=True)
        self.queue = queue
        self.consumer = consumer
        self.every = every_seconds
        self.held: set[str] = set()
        self.lock = threading.Lock()
        self.halt = threading.Event()

    def hold(self, message_ids: list[str]) -> None:
        """Start renewing these tasks."""
        with self.lock:
            self.held.update(message_ids)

    def drop(self, message_ids: list[str]) -> None:
        """Stop renewing these tasks."""
        with self.lock:
            self.held.difference_update(message_ids)

    def run(self) -> None:
        """Renew until :attr:`halt` is set."""
        while not self.halt.wait(self.every):
            with self.lock:
                held = sorted(self.held)
            if not held:
                continue
            try:
                renewal = self.queue.renew(self.consumer, held)
            except redis.RedisError as error:
                logger.warning(
                    "lease renewal failed worker=%s: %s", self.consumer, error
                )
                continue
            if renewal.taken:
                logger.warning(
                    "lease lost worker=%s tasks=%s: another worker took them over",
                    self.consumer,
                    ",".join(renewal.taken),
                )
                self.drop(renewal.taken)
