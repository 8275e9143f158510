"""The worker: pull tasks, compute chunks, hand in results.

One :class:`Worker` serves one run. In queue mode it loops:

1. every ``reclaim`` interval, take over tasks whose lease expired
   (XAUTOCLAIM), otherwise read new tasks (XREADGROUP), several at a time when
   chunks are quick;
2. compute each chunk while a background :class:`LeaseKeeper` renews the
   lease on every task it holds;
3. hand results in (Lua, first writer wins), batched when chunks are quick,
   in the same round trip as the next read; while the last chunk it holds
   nears its end, a background :class:`Courier` makes that round trip, so the
   next chunk is at hand when this one ends;
4. stop when every chunk of the run is settled, on SIGTERM/SIGINT (after the
   grace period), or after ``idle_timeout_seconds`` with nothing to do.

A chunk whose function raises is re-queued until ``max_attempts`` deliveries,
then computed parameter by parameter so that only the failing parameters
become dead letters. In static mode (the original v1.1 baseline) the worker
computes its own fixed range and nothing else: no leases, no recovery.

Every Redis call goes through :meth:`Worker._call`, which rides out a lost
connection with bounded backoff for ``redis_retry_seconds``.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from types import FrameType
from typing import TypeVar

import redis

from ttglib.chunks import Chunk, plan_chunks
from ttglib.config import RunSpec, WorkerSettings
from ttglib.costs import cost_model_from_spec
from ttglib.courier import Courier, Exchange
from ttglib.errors import RedisUnavailableError, UsageError
from ttglib.keys import consumer_name
from ttglib.leases import LeaseKeeper
from ttglib.queue import ChunkResult, RunQueue, Task
from ttglib.workloads import (
    ChunkAbandoned,
    ChunkValues,
    DeadParam,
    Workload,
    resolve_task,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Results wait at most this long before they are handed in together.
FLUSH_SECONDS = 0.05
# A blocking read waits at most this long before the worker looks around.
BLOCK_MS = 200
# A chunk expected to end within this long has the next tasks fetched already.
LOOKAHEAD_SECONDS = 0.01
BACKOFF_START, BACKOFF_MAX = 0.1, 2.0


@dataclass
class WorkerSummary:
    """What a worker did, returned by :meth:`Worker.run`.

    ``status`` is ``completed`` (the run is finished), ``stopped`` (a signal),
    ``idle-timeout`` (nothing to do for too long), ``no-run`` (the run was
    never submitted) or ``removed`` (the run was deleted while it worked).
    """

    status: str
    worker_id: str
    run_id: str
    mode: str
    chunks_processed: int = 0
    params_processed: int = 0
    duplicates: int = 0
    retries: int = 0
    recoveries: int = 0
    dead_params: int = 0
    duration_seconds: float = 0.0
    peak_rss_mb: float = 0.0

    def to_dict(self) -> dict[str, object]:
        """The summary as a JSON-able mapping."""
        return asdict(self)


class Worker:
    """A worker process's loop over one run.

    Args:
        client: a Redis client (``decode_responses=True``).
        settings: the worker's settings.
        task_function: overrides ``settings.task`` (for embedding in Python).
    """

    def __init__(
        self,
        client: redis.Redis,
        settings: WorkerSettings,
        task_function: Callable[[int], float] | None = None,
    ) -> None:
        self.settings = settings
        self.queue = RunQueue(client, settings.run_id)
        self.name = consumer_name(settings.worker_id)
        self.function = task_function or resolve_task(settings.task)
        self.stopping = False
        self.stop_deadline = float("inf")
        self.pending: list[ChunkResult] = []
        self.first_pending_at = 0.0
        self.reserve: list[Task] = []
        self.courier = Courier(self._prefetch_exchange)
        self.batch = 1
        self.summary = WorkerSummary("completed", self.name, settings.run_id, "queue")
        self.keeper = LeaseKeeper(
            self.queue, self.name, max(settings.lease_seconds / 4, 0.05)
        )
        self.workload = Workload(self.function)
        self.lease_ms = int(settings.lease_seconds * 1000)

    # --- the loop ------------------------------------------------------------

    def run(self) -> WorkerSummary:
        """Work until the run is finished, a signal arrives or nothing is left.

        Raises:
            UsageError: the worker's mode or index does not fit the run.
            RedisUnavailableError: Redis stayed away longer than
                ``redis_retry_seconds``.
        """
        began = time.monotonic()
        restore = self._install_signal_handlers()
        try:
            spec = self._wait_for_run()
            if spec is None:
                self.summary.status = "stopped" if self.stopping else "no-run"
                return self.summary
            self.workload = Workload(
                self.function,
                cost_model_from_spec(spec.cost_model, self.settings.work_ms),
            )
            mode = self._mode_for(spec)
            self.summary.mode = mode
            self._call(self.queue.announce, self.name, "working", **self._identity())
            if mode == "static":
                self._run_static(spec)
            else:
                self._run_queue()
        finally:
            restore()
            self.summary.duration_seconds = round(time.monotonic() - began, 3)
            self.summary.peak_rss_mb = peak_rss_mb()
            self._say_goodbye()
        logger.info(
            "worker=%s run=%s status=%s chunks=%d params=%d seconds=%.3f",
            self.name,
            self.settings.run_id,
            self.summary.status,
            self.summary.chunks_processed,
            self.summary.params_processed,
            self.summary.duration_seconds,
        )
        return self.summary

    def _run_queue(self) -> None:
        self.keeper.start()
        try:
            self._pull_loop()
        except redis.ResponseError as error:
            if not run_removed(error):
                raise
            logger.warning(
                "worker=%s run=%s was removed while it worked; leaving",
                self.name,
                self.settings.run_id,
            )
            self.summary.status = "removed"
        finally:
            self.courier.close()
            self.keeper.halt.set()
            self.keeper.join()

    def _pull_loop(self) -> None:
        reclaim_every = min(1.0, self.settings.lease_seconds / 4)
        next_reclaim = time.monotonic() + reclaim_every
        idle_since = time.monotonic()
        while not self.stopping:
            self._collect_prefetch()
            tasks, self.reserve = self.reserve, []
            # Expired leases are looked for even while work is at hand, so a
            # dead worker's chunk does not wait for the queue to drain.
            if time.monotonic() >= next_reclaim:
                recovered = self._call(
                    self.queue.reclaim, self.name, self.lease_ms, self.batch
                )
                next_reclaim = time.monotonic() + reclaim_every
                self.keeper.hold([task.message_id for task in recovered])
                self._note_recoveries(recovered)
                tasks = recovered + tasks
            if not tasks:
                until_reclaim = int((next_reclaim - time.monotonic()) * 1000)
                tasks = self._flush(
                    fetch=(self.batch, max(1, min(BLOCK_MS, until_reclaim)))
                )

            if not tasks:
                if self._call(self.queue.is_finished):
                    self.summary.status = "completed"
                    return
                if time.monotonic() - idle_since > self.settings.idle_timeout_seconds:
                    logger.warning(
                        "worker=%s run=%s idle for %.0f s; leaving",
                        self.name,
                        self.settings.run_id,
                        self.settings.idle_timeout_seconds,
                    )
                    self.summary.status = "idle-timeout"
                    return
                continue

            self._work_through(tasks)
            idle_since = time.monotonic()

        self._collect_prefetch()
        self._release(self.reserve)
        self.reserve = []
        self._flush()
        self.summary.status = "stopped"

    def _work_through(self, tasks: list[Task]) -> None:
        """Compute a batch of held tasks, handing results in as they pile up."""
        began = time.perf_counter()
        for index, task in enumerate(tasks):
            if self.stopping:
                self._release(tasks[index:])
                return
            self._process(task, lookahead=index == len(tasks) - 1)
            overdue = time.monotonic() - self.first_pending_at > FLUSH_SECONDS
            if self.pending and overdue and not self.courier.busy:
                self._flush()
        self._adapt_batch((time.perf_counter() - began) / len(tasks))

    def _adapt_batch(self, seconds_per_task: float) -> None:
        """Fetch about ``batch_seconds`` of work per read."""
        wanted = int(self.settings.batch_seconds / max(seconds_per_task, 1e-6))
        self.batch = max(1, min(self.settings.max_batch, wanted))

    def _note_recoveries(self, tasks: list[Task]) -> None:
        for task in tasks:
            logger.warning(
                "recovered run=%s chunk=%s worker=%s attempt=%d: its lease had expired",
                self.settings.run_id,
                task.chunk.chunk_id,
                self.name,
                task.attempt,
            )
        self.summary.recoveries += len(tasks)

    # --- one task ------------------------------------------------------------

    def _process(self, task: Task, lookahead: bool = False) -> None:
        settings = self.settings
        if task.attempt > settings.max_attempts + 1:
            self._give_up(task)
            return

        started = time.time()
        try:
            values = self.workload.compute(
                task.chunk,
                keep_values=settings.store_values,
                isolate=task.attempt >= settings.max_attempts,
                checkpoint=self._checkpoint(task, lookahead),
            )
        except ChunkAbandoned:
            self._release([task])
            return
        except Exception as error:
            self._retry(task, error)
            return
        self._hand_in(task, values, started)

    def _checkpoint(self, task: Task, lookahead: bool) -> Callable[[int], bool]:
        """What the computation calls between parameters.

        It asks to abandon the chunk once a stop's grace period is over and,
        on the last chunk held, starts the next round trip when the chunk is
        expected to end within :data:`LOOKAHEAD_SECONDS`.
        """
        began = time.perf_counter()
        size = task.chunk.size

        def checkpoint(done: int) -> bool:
            if lookahead and done and not self.courier.busy and not self.stopping:
                remaining = (time.perf_counter() - began) / done * (size - done)
                if remaining <= LOOKAHEAD_SECONDS:
                    results, self.pending = self.pending, []
                    self.courier.send(results, self.batch)
            return self.stopping and time.monotonic() > self.stop_deadline

        return checkpoint

    def _hand_in(self, task: Task, values: ChunkValues, started: float) -> None:
        if not self.pending:
            self.first_pending_at = time.monotonic()
        self.pending.append(ChunkResult(task, self.name, values, started, time.time()))

    def _retry(self, task: Task, error: Exception) -> None:
        logger.warning(
            "chunk failed run=%s chunk=%s worker=%s attempt=%d: %s: %s",
            self.settings.run_id,
            task.chunk.chunk_id,
            self.name,
            task.attempt,
            type(error).__name__,
            error,
        )
        self._flush()
        if self._call(self.queue.retry, task, self.name):
            self.summary.retries += 1
        self.keeper.drop([task.message_id])

    def _give_up(self, task: Task) -> None:
        """A chunk whose workers kept dying: one dead letter for its whole range."""
        chunk = task.chunk
        logger.error(
            "chunk dead run=%s chunk=%s attempt=%d: workers were lost on it repeatedly",
            self.settings.run_id,
            chunk.chunk_id,
            task.attempt,
        )
        lost = DeadParam(
            chunk.start_param,
            "WorkerLost",
            f"{task.attempt - 1} deliveries ended without a result",
            "",
            end=chunk.end_param,
        )
        self._hand_in(task, ChunkValues(dead=[lost]), time.time())

    def _release(self, tasks: list[Task]) -> None:
        ids = [task.message_id for task in tasks]
        released = self._call(self.queue.release, self.name, ids, self.lease_ms * 10)
        self.keeper.drop(ids)
        if released:
            logger.info(
                "released run=%s worker=%s tasks=%d for other workers",
                self.settings.run_id,
                self.name,
                released,
            )

    # --- handing results in ----------------------------------------------------

    def _flush(self, fetch: tuple[int, int] | None = None) -> list[Task]:
        """Hand in pending results; with ``fetch=(count, block_ms)`` read on.

        A round trip the courier started is collected first, and its tasks
        join :attr:`reserve`.
        """
        self._collect_prefetch()
        results, self.pending = self.pending, []
        if not results and fetch is None:
            return []
        return self._settle(self._exchange(results, fetch))

    def _exchange(
        self, results: list[ChunkResult], fetch: tuple[int, int] | None
    ) -> Exchange:
        """Hand ``results`` in and read tasks, in one round trip (any thread)."""
        then_fetch = (self.name, fetch[0], fetch[1]) if fetch else None
        stored, tasks = self._call(
            self.queue.complete,
            results,
            store_values=self.settings.store_values,
            then_fetch=then_fetch,
        )
        self.keeper.hold([task.message_id for task in tasks])
        self.keeper.drop([result.task.message_id for result in results])
        return Exchange(results, stored, tasks)

    def _prefetch_exchange(self, results: list[ChunkResult], count: int) -> Exchange:
        """The courier's round trip: a read that does not block."""
        return self._exchange(results, (count, 0))

    def _collect_prefetch(self) -> None:
        """Take in the courier's round trip, if one was started."""
        exchange = self.courier.collect()
        if exchange is not None:
            self.reserve += self._settle(exchange)

    def _settle(self, exchange: Exchange) -> list[Task]:
        """Count what a round trip did; return the tasks it read."""
        for result, was_stored in zip(exchange.results, exchange.stored, strict=True):
            self._account(result, was_stored)
        return exchange.tasks

    def _account(self, result: ChunkResult, stored: bool) -> None:
        chunk = result.task.chunk
        seconds = result.finished_at - result.started_at
        if not stored:
            self.summary.duplicates += 1
            logger.debug(
                "duplicate suppressed run=%s chunk=%s worker=%s attempt=%d",
                self.settings.run_id,
                chunk.chunk_id,
                self.name,
                result.task.attempt,
            )
            return
        self.summary.chunks_processed += 1
        self.summary.params_processed += result.values.count
        self.summary.dead_params += len(result.values.dead)
        logger.info(
            "chunk done run=%s chunk=%s worker=%s attempt=%d seconds=%.3f",
            self.settings.run_id,
            chunk.chunk_id,
            self.name,
            result.task.attempt,
            seconds,
        )
        if result.values.dead:
            logger.warning(
                "dead letters run=%s chunk=%s params=%d first=%s",
                self.settings.run_id,
                chunk.chunk_id,
                len(result.values.dead),
                result.values.dead[0].error_type,
            )

    # --- static mode ---------------------------------------------------------

    def _run_static(self, spec: RunSpec) -> None:
        index = static_index(self.settings.worker_id, spec.workers)
        mine = [chunk for chunk in plan_chunks(spec) if chunk.owner == index]
        settled = self._call(self.queue.settled, [chunk.chunk_id for chunk in mine])
        todo = [chunk for chunk, done in zip(mine, settled, strict=True) if not done]
        logger.info(
            "static worker=%s run=%s range=%s chunks=%d",
            self.name,
            spec.run_id,
            describe_range(mine),
            len(todo),
        )
        for chunk in todo:
            if self.stopping:
                self.summary.status = "stopped"
                break
            self._process_static(chunk)
            if (
                self.pending
                and time.monotonic() - self.first_pending_at > FLUSH_SECONDS
            ):
                self._flush()
        self._flush()

    def _process_static(self, chunk: Chunk) -> None:
        task = Task("", chunk)
        started = time.time()
        try:
            values = self.workload.compute(
                chunk, keep_values=self.settings.store_values
            )
        except Exception:
            # No redelivery in static mode: isolate the failing parameters now.
            values = self.workload.compute(
                chunk, keep_values=self.settings.store_values, isolate=True
            )
        self._hand_in(task, values, started)

    # --- waiting, signals, presence ------------------------------------------

    def _wait_for_run(self) -> RunSpec | None:
        deadline = time.monotonic() + self.settings.idle_timeout_seconds
        said = False
        while not self.stopping:
            if self._call(self.queue.exists):
                return self._call(self.queue.meta).spec
            if not said:
                logger.info(
                    "worker=%s waiting for run %s to be submitted (up to %.0f s)",
                    self.name,
                    self.settings.run_id,
                    self.settings.idle_timeout_seconds,
                )
                self._call(
                    self.queue.announce, self.name, "waiting", **self._identity()
                )
                said = True
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                logger.warning(
                    "worker=%s gave up: run %s was not submitted within %.0f s",
                    self.name,
                    self.settings.run_id,
                    self.settings.idle_timeout_seconds,
                )
                return None
            self._call(self.queue.wait_for_submission, min(left_ms, BLOCK_MS))
        return None

    def _mode_for(self, spec: RunSpec) -> str:
        wanted = self.settings.mode
        if wanted is not None and wanted != spec.mode:
            raise UsageError(
                f"worker is set to {wanted} mode but run {spec.run_id!r} is a "
                f"{spec.mode} run (check USE_QUEUE or --mode)"
            )
        return spec.mode

    def _identity(self) -> dict[str, object]:
        return {"pid": os.getpid(), "host": socket.gethostname()}

    def _say_goodbye(self) -> None:
        try:
            self.queue.announce(
                self.name,
                "exited",
                status=self.summary.status,
                peak_rss_mb=self.summary.peak_rss_mb,
                **self._identity(),
            )
        except redis.RedisError:
            logger.debug("could not record exit of worker=%s", self.name)

    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {
            number: signal.signal(number, self._on_signal)
            for number in (signal.SIGTERM, signal.SIGINT)
        }

        def restore() -> None:
            for number, handler in previous.items():
                signal.signal(number, handler)

        return restore

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.stop_deadline = time.monotonic() + self.settings.grace_seconds
        logger.info(
            "worker=%s got %s: no new tasks; finishing the current chunk within %.0f s",
            self.name,
            signal.Signals(number).name,
            self.settings.grace_seconds,
        )

    # --- riding out Redis outages --------------------------------------------

    def _call(self, function: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Call ``function``, retrying lost connections with bounded backoff."""
        delay = BACKOFF_START
        deadline = time.monotonic() + self.settings.redis_retry_seconds
        failures = 0
        while True:
            try:
                outcome = function(*args, **kwargs)
            except (redis.ConnectionError, redis.TimeoutError) as error:
                failures += 1
                if time.monotonic() + delay > deadline:
                    raise RedisUnavailableError(
                        f"Redis stayed unreachable for {self.settings.redis_retry_seconds:.0f} s; "
                        f"worker {self.name} gave up"
                    ) from error
                logger.warning(
                    "Redis unreachable worker=%s (try %d, next in %.1f s): %s",
                    self.name,
                    failures,
                    delay,
                    error,
                )
                time.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            except redis.ResponseError as error:
                if "LOADING" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                continue
            if failures:
                logger.warning(
                    "Redis is back worker=%s after %d tries", self.name, failures
                )
            return outcome


def run_removed(error: redis.ResponseError) -> bool:
    """Tell whether Redis refused a read because the run's keys were deleted."""
    # A pipeline wraps the reply: "Command # 1 (...) caused error: NOGROUP ...".
    text = str(error)
    return "NOGROUP" in text or "UNBLOCKED the stream key no longer exists" in text


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KiB)."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def static_index(worker_id: str, workers: int) -> int:
    """A static worker's index from its id (``3`` or ``worker-3``)."""
    text = worker_id.removeprefix("worker-")
    if not text.isdigit() or int(text) >= workers:
        raise UsageError(
            f"static mode needs WORKER_ID 0..{workers - 1}, not {worker_id!r}"
        )
    return int(text)


def describe_range(chunks: list[Chunk]) -> str:
    """``[start, end)`` of a worker's static chunks."""
    if not chunks:
        return "[]"
    return f"[{chunks[0].start_param}, {chunks[-1].end_param})"
