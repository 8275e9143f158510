"""Where a run stands: queued, in flight per worker, done, dead.

:func:`run_status` answers ``ttg status``; :func:`sample_queue` takes the
cheap subset of it that live views poll several times a second.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from ttglib.queue import RunQueue, list_runs


@dataclass(frozen=True)
class InFlight:
    """The tasks one worker holds: how many, and the longest silence among them."""

    worker: str
    tasks: int
    max_idle_seconds: float


@dataclass
class RunStatus:
    """A run's queue figures, as ``ttg status`` shows them."""

    run_id: str
    mode: str
    tasks_total: int
    queued: int
    in_flight: int
    done: int
    dead_params: int
    params_done: int
    params_total: int
    finished: bool
    per_worker: list[InFlight] = field(default_factory=list)
    workers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The status as a JSON-able mapping."""
        return asdict(self)


@dataclass(frozen=True)
class QueueSample:
    """One point of a run's live time series.

    Attributes:
        t: seconds since the sampling started.
    """

    t: float
    queued: int
    in_flight: int
    done: int
    dead: int
    params_done: int


def run_status(client: redis.Redis, run_id: str) -> RunStatus:
    """Read a run's figures (meta, HLEN, XPENDING, counters).

    Raises:
        RunNotFoundError: no such run.
    """
    queue = RunQueue(client, run_id)
    meta = queue.meta()
    progress = queue.progress()
    per_worker = in_flight_by_worker(queue) if meta.spec.mode == "queue" else []
    in_flight = sum(entry.tasks for entry in per_worker)
    queued = max(progress.chunks_total - progress.chunks_settled - in_flight, 0)
    return RunStatus(
        run_id=run_id,
        mode=meta.spec.mode,
        tasks_total=progress.chunks_total,
        queued=queued if meta.spec.mode == "queue" else 0,
        in_flight=in_flight,
        done=progress.chunks_settled,
        dead_params=progress.dead_params,
        params_done=progress.params_done,
        params_total=progress.params_total,
        finished=progress.finished,
        per_worker=per_worker,
        workers=queue.workers(),
    )


def in_flight_by_worker(queue: RunQueue, limit: int = 10_000) -> list[InFlight]:
    """Pending tasks grouped by consumer (XPENDING with a range)."""
    try:
        entries = queue.client.xpending_range(
            queue.keys.tasks, queue.group, min="-", max="+", count=limit
        )
    except redis.ResponseError:
        return []
    tally: dict[str, list[float]] = {}
    for entry in entries:
        held = tally.setdefault(str(entry["consumer"]), [0, 0.0])
        held[0] += 1
        held[1] = max(held[1], int(entry["time_since_delivered"]) / 1000.0)
    return [InFlight(name, int(n), idle) for name, (n, idle) in sorted(tally.items())]


def sample_queue(queue: RunQueue, started: float) -> QueueSample:
    """A cheap snapshot for live views; ``started`` is a ``time.monotonic()``.

    Keep one ``queue`` across samples: its meta is read once.
    """
    progress = queue.progress()
    try:
        pending = queue.client.xpending(queue.keys.tasks, queue.group)
        in_flight = int(pending["pending"])
    except redis.ResponseError:
        in_flight = 0
    return QueueSample(
        t=time.monotonic() - started,
        queued=max(progress.chunks_total - progress.chunks_settled - in_flight, 0),
        in_flight=in_flight,
        done=progress.chunks_settled,
        dead=progress.dead_params,
        params_done=progress.params_done,
    )


def all_statuses(client: redis.Redis) -> list[RunStatus]:
    """The status of every run in the index."""
    return [run_status(client, run_id) for run_id in list_runs(client)]
