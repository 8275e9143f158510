"""The Redis side of a run: every command ttglib sends for one run lives here.

:class:`RunQueue` wraps the run's keys (see :mod:`ttglib.keys`). Each method
names the Redis command it sends and the guarantee it relies on:

- :meth:`RunQueue.submit`: Lua, so a run's meta and all its tasks appear
  together or not at all, and a second submit adds nothing.
- :meth:`RunQueue.fetch`: XREADGROUP, each task to one consumer.
- :meth:`RunQueue.renew`: XCLAIM JUSTID on the caller's own pending entries
  (Lua: the ownership check and the claim are one step).
- :meth:`RunQueue.reclaim`: XAUTOCLAIM with the cursor carried across calls.
- :meth:`RunQueue.complete`: Lua, first writer wins: result, ``done`` mark,
  dead letters and XACK in one atomic step.
- :meth:`RunQueue.retry` and :meth:`RunQueue.release`: Lua, give a task back.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import redis

from ttglib import __version__
from ttglib.chunks import Chunk, chunk_id_width, plan_chunks
from ttglib.config import RunSpec
from ttglib.errors import RunConflictError, RunNotFoundError, UsageError
from ttglib.keys import GROUP, RUNS_INDEX, RunKeys
from ttglib.workloads import ChunkValues, DeadParam

logger = logging.getLogger(__name__)


def load_script(name: str) -> str:
    """The text of a Lua script shipped beside this module."""
    return resources.files("ttglib").joinpath(f"lua/{name}.lua").read_text("utf-8")


@dataclass(frozen=True)
class Task:
    """A delivered task: the chunk, its stream entry and its delivery number.

    Attributes:
        message_id: the task's entry id in the tasks stream.
        chunk: the chunk it carries.
        attempt: 1 for a first delivery, counting every redelivery since.
        recovered: taken over from another worker's expired lease.
    """

    message_id: str
    chunk: Chunk
    attempt: int = 1
    recovered: bool = False


@dataclass
class ChunkResult:
    """What a worker reports for one chunk."""

    task: Task
    worker_id: str
    values: ChunkValues
    started_at: float
    finished_at: float

    def fields(self, store_values: bool) -> dict[str, str]:
        """The result as stream fields (strings only; floats in ``repr`` form)."""
        values = self.values
        average = values.total / values.count if values.count else None
        chunk = self.task.chunk
        out = {
            "chunk_id": chunk.chunk_id,
            "start_param": str(chunk.start_param),
            "end_param": str(chunk.end_param),
            "count": str(values.count),
            "sum": repr(values.total),
            "min": "" if values.minimum is None else repr(values.minimum),
            "max": "" if values.maximum is None else repr(values.maximum),
            "avg": "" if average is None else repr(average),
            "worker_id": self.worker_id,
            "attempt": str(self.task.attempt),
            "recovered": "1" if self.task.recovered else "0",
            "started_at": repr(self.started_at),
            "finished_at": repr(self.finished_at),
            "duration_seconds": repr(self.finished_at - self.started_at),
            "dead_params": str(len(values.dead)),
            "status": "completed" if not values.dead else "partial",
        }
        if store_values and values.values is not None:
            out["values"] = json.dumps(values.values)
        return out


@dataclass(frozen=True)
class Renewal:
    """What a lease renewal found.

    Attributes:
        renewed: tasks still ours, renewed.
        taken: tasks another worker owns now (our lease had expired).
    """

    renewed: list[str]
    taken: list[str]


@dataclass(frozen=True)
class SubmitOutcome:
    """What :meth:`RunQueue.submit` did.

    Attributes:
        created: False when the run already existed and nothing was added.
        chunks: the run's chunk count.
        seconds: how long the submission took.
    """

    created: bool
    chunks: int
    seconds: float


@dataclass(frozen=True)
class Progress:
    """How far a run has come."""

    chunks_total: int
    chunks_settled: int
    params_total: int
    params_done: int
    dead_params: int

    @property
    def finished(self) -> bool:
        """Every chunk has a result or a dead letter."""
        return self.chunks_settled >= self.chunks_total


@dataclass(frozen=True)
class RunMeta:
    """A submitted run's meta, as read back from Redis."""

    spec: RunSpec
    total_chunks: int
    created_at: float
    version: str
    raw: dict[str, str] = field(default_factory=dict)


class RunQueue:
    """The tasks, results and bookkeeping of one run.

    Args:
        client: a client with ``decode_responses=True``.
        run_id: the run; its keys come from :meth:`RunKeys.for_run`.
        keys: explicit keys instead (the original API's stream names).
        group: the consumer group name.
    """

    def __init__(
        self,
        client: redis.Redis,
        run_id: str | None = None,
        *,
        keys: RunKeys | None = None,
        group: str = GROUP,
    ) -> None:
        if keys is None:
            if run_id is None:
                raise UsageError("RunQueue needs a run id or keys")
            keys = RunKeys.for_run(run_id)
        self.client = client
        self.keys = keys
        self.run_id = keys.run_id
        self.group = group
        self._submit = client.register_script(load_script("submit"))
        self._complete = client.register_script(load_script("complete"))
        self._retry = client.register_script(load_script("retry"))
        self._renew = client.register_script(load_script("renew"))
        self._release = client.register_script(load_script("release"))
        self._meta: RunMeta | None = None
        self._reclaim_cursor = "0-0"

    # --- submitting and reading the run's meta -------------------------------

    def submit(self, spec: RunSpec) -> SubmitOutcome:
        """Write the run's meta and all its tasks, once (Lua, one atomic step).

        Either everything lands or nothing does, and a second submit of the
        same run id adds nothing. The chunk bounds travel as one string and
        the script writes the tasks, so 100,000 tasks take one round trip.

        Note:
            The script holds the server while it writes: about a second per
            few hundred thousand tasks.

        Raises:
            RunConflictError: the run exists with a spec that cuts another
                range, or its keys were half removed.
        """
        began = time.perf_counter()
        chunks = plan_chunks(spec)
        bounds = " ".join(f"{c.start_param} {c.end_param}" for c in chunks)
        meta = flatten(self._meta_fields(spec, len(chunks)))
        outcome = int(
            self._submit(
                keys=[self.keys.meta, self.keys.tasks, self.keys.events],
                args=[
                    self.group,
                    spec.mode,
                    str(chunk_id_width(len(chunks))),
                    str(spec.total_params),
                    str(len(meta)),
                    *meta,
                    bounds,
                ],
            )
        )
        if outcome == -1:
            raise RunConflictError(
                f"run {spec.run_id!r} has tasks but no meta; "
                f"remove it with 'ttg clean {spec.run_id}'"
            )
        if outcome == 0:
            self._check_same(spec, self.meta().spec)
            return SubmitOutcome(False, len(chunks), 0.0)

        if self.keys == RunKeys.for_run(spec.run_id):
            self.client.zadd(RUNS_INDEX, {spec.run_id: time.time()})
        seconds = time.perf_counter() - began
        logger.info(
            "submitted run=%s chunks=%d params=%d mode=%s seconds=%.3f",
            spec.run_id,
            len(chunks),
            spec.total_params,
            spec.mode,
            seconds,
        )
        return SubmitOutcome(True, len(chunks), seconds)

    @staticmethod
    def _meta_fields(spec: RunSpec, chunks: int) -> dict[str, str]:
        return {
            "run_id": spec.run_id,
            "spec": spec.to_json(),
            "mode": spec.mode,
            "plan": "static" if spec.mode == "static" else spec.plan,
            "total_params": str(spec.total_params),
            "chunk_size": str(spec.chunk_size),
            "total_chunks": str(chunks),
            "workers": str(spec.workers),
            "work_ms": repr(spec.work_ms),
            "task": spec.task,
            "created_at": repr(time.time()),
            "submitted_from": socket.gethostname(),
            "ttglib_version": __version__,
        }

    @staticmethod
    def _check_same(new: RunSpec, stored: RunSpec) -> None:
        if not new.same_work(stored):
            raise RunConflictError(
                f"run {new.run_id!r} exists with {stored.total_params} params, "
                f"chunk size {stored.chunk_size}, mode {stored.mode}; "
                "choose another run id or 'ttg clean' it first"
            )

    def wait_for_submission(self, block_ms: int) -> bool:
        """Block until the run is submitted or ``block_ms`` passes (XREAD BLOCK).

        Every waiting worker wakes on the same event, so they start together.

        Returns:
            True if the run has been submitted.
        """
        reply = self.client.xread(
            {self.keys.events: "0-0"}, count=1, block=max(block_ms, 1)
        )
        return bool(reply)

    def exists(self) -> bool:
        """Tell whether the run has been submitted (EXISTS on its meta)."""
        return bool(self.client.exists(self.keys.meta))

    def meta(self) -> RunMeta:
        """Read the run's meta (HGETALL).

        Raises:
            RunNotFoundError: the run was never submitted, or was cleaned.
        """
        raw: dict[str, str] = self.client.hgetall(self.keys.meta)  # type: ignore[assignment]
        if not raw or "spec" not in raw:
            raise RunNotFoundError(self.run_id)
        meta = RunMeta(
            spec=RunSpec.from_json(raw["spec"]),
            total_chunks=int(raw["total_chunks"]),
            created_at=float(raw.get("created_at", "0")),
            version=raw.get("ttglib_version", ""),
            raw=raw,
        )
        self._meta = meta
        return meta

    def known_meta(self) -> RunMeta:
        """The run's meta, read once and then kept: a submitted run's meta never
        changes, so polling loops need not read it again."""
        return self._meta if self._meta is not None else self.meta()

    def total_chunks(self) -> int:
        """The run's chunk count (read once from the meta, then kept)."""
        return self.known_meta().total_chunks

    # --- pulling work --------------------------------------------------------

    def fetch(self, consumer: str, count: int = 1, block_ms: int = 0) -> list[Task]:
        """Read up to ``count`` new tasks for ``consumer`` (XREADGROUP ... >).

        Each task goes to exactly one consumer and stays pending until acked.
        ``block_ms`` 0 returns at once when nothing is queued.
        """
        reply = self.client.xreadgroup(
            self.group,
            consumer,
            {self.keys.tasks: ">"},
            count=count,
            block=block_ms or None,
        )
        return self._tasks_from_reply(reply)

    def _tasks_from_reply(self, reply: Any) -> list[Task]:
        if not reply:
            return []
        entries = reply[0][1] if isinstance(reply, list) else reply[self.keys.tasks][0]
        return [
            Task(message_id, Chunk.from_fields(fields), int(fields.get("attempt", 1)))
            for message_id, fields in entries
            if fields
        ]

    def renew(self, consumer: str, message_ids: list[str]) -> Renewal:
        """Renew ``consumer``'s lease on its pending tasks (XCLAIM JUSTID, Lua).

        An entry is renewed only if ``consumer`` still owns it, so a worker that
        was presumed dead never takes a task back from the one that reclaimed it.
        """
        if not message_ids:
            return Renewal([], [])
        renewed, taken = self._renew(
            keys=[self.keys.tasks], args=[self.group, consumer, *message_ids]
        )
        return Renewal([str(i) for i in renewed], [str(i) for i in taken])

    def reclaim(self, consumer: str, min_idle_ms: int, count: int = 1) -> list[Task]:
        """Take over tasks idle longer than a lease (XAUTOCLAIM).

        The cursor is kept between calls, so successive calls walk the whole
        pending list and no entry is skipped; it wraps to the start at the end.
        Each task's attempt adds the deliveries Redis counted (XPENDING).
        """
        cursor, entries, *_ = self.client.xautoclaim(
            self.keys.tasks,
            self.group,
            consumer,
            min_idle_ms,
            self._reclaim_cursor,
            count,
        )
        self._reclaim_cursor = str(cursor)
        entries = [(mid, fields) for mid, fields in entries if fields]
        if not entries:
            return []

        with self.client.pipeline(transaction=False) as pipe:
            for message_id, _ in entries:
                pipe.xpending_range(
                    self.keys.tasks, self.group, message_id, message_id, 1
                )
            pipe.hincrby(self.keys.counters, "recoveries", len(entries))
            replies = pipe.execute()
        tasks = []
        for (message_id, fields), pending in zip(entries, replies, strict=False):
            delivered = int(pending[0]["times_delivered"]) if pending else 2
            attempt = int(fields.get("attempt", 1)) + delivered - 1
            tasks.append(Task(message_id, Chunk.from_fields(fields), attempt, True))
        return tasks

    # --- finishing work ------------------------------------------------------

    def complete(
        self,
        results: list[ChunkResult],
        *,
        store_values: bool = False,
        then_fetch: tuple[str, int, int] | None = None,
    ) -> tuple[list[bool], list[Task]]:
        """Store results, first writer wins, and acknowledge their tasks (Lua).

        All results go in one round trip; ``then_fetch=(consumer, count,
        block_ms)`` appends an XREADGROUP to the same pipeline, so a busy worker
        hands in its work and takes the next in one round trip.

        Returns:
            For each result, True if it was stored and False if the chunk
            already had one (a suppressed duplicate); then the fetched tasks.
        """
        with self.client.pipeline(transaction=False) as pipe:
            for result in results:
                keys, args = self._complete_call(result, store_values)
                self._complete(keys=keys, args=args, client=pipe)
            if then_fetch is not None:
                consumer, count, block_ms = then_fetch
                pipe.xreadgroup(
                    self.group,
                    consumer,
                    {self.keys.tasks: ">"},
                    count=count,
                    block=block_ms or None,
                )
            replies = pipe.execute()
        stored = [bool(int(reply)) for reply in replies[: len(results)]]
        fetched = self._tasks_from_reply(replies[-1]) if then_fetch is not None else []
        return stored, fetched

    def _complete_call(
        self, result: ChunkResult, store_values: bool
    ) -> tuple[list[str], list[str]]:
        chunk = result.task.chunk
        result_args = (
            flatten(result.fields(store_values)) if result.values.count else []
        )
        dead_args = [flatten(dead_fields(chunk, d, result)) for d in result.values.dead]
        return self._complete_keys(), complete_args(
            self.group,
            result.task.message_id,
            chunk.chunk_id,
            result.values.count,
            result_args,
            dead_args,
        )

    def _complete_keys(self) -> list[str]:
        keys = self.keys
        return [keys.done, keys.results, keys.tasks, keys.dead, keys.counters]

    def store_result(self, chunk_id: str, fields: dict[str, str], params: int) -> bool:
        """Store a result that no task carried (Lua, first writer wins).

        Returns:
            True if stored, False if the chunk already had a result.
        """
        args = complete_args(self.group, "", chunk_id, params, flatten(fields), [])
        return bool(int(self._complete(keys=self._complete_keys(), args=args)))

    def retry(self, task: Task, consumer: str) -> bool:
        """Put a failed task back with ``attempt + 1`` (Lua: XADD + XACK).

        Only the task's owner may do it, and only while the chunk has no
        result, so a retry never races a worker that reclaimed the task.

        Returns:
            True if the task was re-queued.
        """
        fields = flatten({**task.chunk.fields(), "attempt": str(task.attempt + 1)})
        reply = self._retry(
            keys=[self.keys.done, self.keys.tasks, self.keys.counters],
            args=[self.group, consumer, task.message_id, task.chunk.chunk_id, *fields],
        )
        return int(reply) == 1

    def release(self, consumer: str, message_ids: list[str], idle_ms: int) -> int:
        """Hand tasks back without an answer (XCLAIM IDLE, Lua).

        Their idle time is set to ``idle_ms`` (more than a lease), so the next
        reclaim by any worker takes them at once.

        Returns:
            How many were released.
        """
        if not message_ids:
            return 0
        reply = self._release(
            keys=[self.keys.tasks],
            args=[self.group, consumer, str(idle_ms), *message_ids],
        )
        return int(reply)

    # --- reading progress ----------------------------------------------------

    def progress(self) -> Progress:
        """Chunks settled and parameters done (HLEN + HMGET, one round trip)."""
        meta = self.known_meta()
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hlen(self.keys.done)
            pipe.hmget(self.keys.counters, ["params", "dead_params"])
            settled, (params, dead) = pipe.execute()
        return Progress(
            chunks_total=meta.total_chunks,
            chunks_settled=int(settled),
            params_total=meta.spec.total_params,
            params_done=int(params or 0),
            dead_params=int(dead or 0),
        )

    def settled_count(self) -> int:
        """How many chunks have a result or a dead letter (HLEN done)."""
        return int(self.client.hlen(self.keys.done))

    def is_finished(self) -> bool:
        """Every chunk of the run is settled."""
        return self.settled_count() >= self.total_chunks()

    def settled(self, chunk_ids: list[str]) -> list[bool]:
        """Which of ``chunk_ids`` are settled already (HMGET done)."""
        if not chunk_ids:
            return []
        return [
            value is not None for value in self.client.hmget(self.keys.done, chunk_ids)
        ]

    def counters(self) -> dict[str, int]:
        """The run's counters: duplicates, recoveries, retries, params, dead_params."""
        raw: dict[str, str] = self.client.hgetall(self.keys.counters)  # type: ignore[assignment]
        return {name: int(value) for name, value in raw.items()}

    # --- workers' presence ---------------------------------------------------

    def announce(self, consumer: str, state: str, **details: Any) -> None:
        """Record a worker's presence and state (HSET workers)."""
        record = {"state": state, "seen_at": time.time(), **details}
        self.client.hset(self.keys.workers, consumer, json.dumps(record))

    def workers(self) -> dict[str, dict[str, Any]]:
        """Every worker that announced itself, with its last record."""
        raw: dict[str, str] = self.client.hgetall(self.keys.workers)  # type: ignore[assignment]
        return {name: json.loads(text) for name, text in raw.items()}

    # --- removing the run ----------------------------------------------------

    def delete(self) -> int:
        """Remove every key of the run and its index entry (DEL, ZREM)."""
        removed = int(self.client.delete(*self.keys.all()))
        self.client.zrem(RUNS_INDEX, self.run_id)
        return removed


def complete_args(
    group: str,
    message_id: str,
    chunk_id: str,
    params: int,
    result_args: list[str],
    dead_args: list[list[str]],
) -> list[str]:
    """The argument list of ``complete.lua`` (its header documents the layout)."""
    args = [group, message_id, chunk_id, str(params), str(len(dead_args))]
    args += [str(len(result_args)), *result_args]
    for one in dead_args:
        args += one
    return args


def flatten(fields: dict[str, str]) -> list[str]:
    """``{"a": "1", "b": "2"}`` -> ``["a", "1", "b", "2"]``, for Lua arguments."""
    out: list[str] = []
    for name, value in fields.items():
        out += [name, value]
    return out


# Every dead letter has these fields, in this order (the Lua script relies on
# the count being fixed).
DEAD_FIELDS = (
    "chunk_id",
    "start_param",
    "end_param",
    "worker_id",
    "attempt",
    "error_type",
    "error",
    "traceback",
    "at",
)


def dead_fields(chunk: Chunk, dead: DeadParam, result: ChunkResult) -> dict[str, str]:
    """A dead letter's stream fields."""
    end = dead.end if dead.end is not None else dead.param + 1
    return {
        "chunk_id": chunk.chunk_id,
        "start_param": str(dead.param),
        "end_param": str(end),
        "worker_id": result.worker_id,
        "attempt": str(result.task.attempt),
        "error_type": dead.error_type,
        "error": dead.error,
        "traceback": dead.traceback,
        "at": repr(result.finished_at),
    }


def list_runs(client: redis.Redis) -> list[str]:
    """Every run id in the index, oldest first (ZRANGE ttg:runs)."""
    return [str(run_id) for run_id in client.zrange(RUNS_INDEX, 0, -1)]
