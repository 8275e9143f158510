"""The original system's Python API, kept working on ttglib's queue.

``TaskQueue`` and ``QueueWorker`` take the arguments the original guide
documents. Underneath they use :class:`~ttglib.queue.RunQueue` and
:class:`~ttglib.worker.Worker`, so results are stored first-writer-wins even
through this API.

Note:
    In the original system worker 0 created the tasks. Here
    ``QueueWorker.run`` submits the run idempotently before working (every
    worker may do it; only the first adds anything), and ``TaskQueue`` keeps
    its caller's stream names instead of a run namespace.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from ttglib.config import RedisSettings, RunSpec, WorkerSettings
from ttglib.connection import connect
from ttglib.errors import UsageError
from ttglib.keys import GROUP, RunKeys
from ttglib.queue import RunQueue, Task
from ttglib.worker import Worker


class TaskQueue:
    """The original ``queue_utils.TaskQueue``.

    Args:
        host: Redis host.
        port: Redis port.
        task_stream: the tasks stream's key.
        result_stream: the results stream's key.
        consumer_group: the consumer group's name.
        password: Redis password, if any.
    """

    def __init__(
        self,
        host: str = "ttg-redis",
        port: int = 6379,
        task_stream: str = "ttg:tasks",
        result_stream: str = "ttg:results",
        consumer_group: str = GROUP,
        password: str | None = None,
    ) -> None:
        self.settings = RedisSettings(host=host, port=port, password=password)
        self.keys = RunKeys.from_streams(task_stream, result_stream)
        self.consumer_group = consumer_group
        self.client: redis.Redis | None = None
        self._queue: RunQueue | None = None

    @property
    def queue(self) -> RunQueue:
        """The underlying :class:`RunQueue`; :meth:`connect` first."""
        if self._queue is None:
            raise UsageError("TaskQueue is not connected: call connect() first")
        return self._queue

    def connect(self) -> bool:
        """Open the connection (PING and version check)."""
        self.client = connect(self.settings)
        self._queue = RunQueue(self.client, keys=self.keys, group=self.consumer_group)
        return True

    def disconnect(self) -> None:
        """Close the connection."""
        if self.client is not None:
            self.client.close()
        self.client, self._queue = None, None

    def initialize_tasks(self, total_params: int, chunk_size: int = 100) -> int:
        """Create the tasks once; returns how many were created (0 if they existed)."""
        run_id = self.keys.tasks.replace(":", "-").replace("{", "").replace("}", "")
        spec = RunSpec(run_id=run_id, total_params=total_params, chunk_size=chunk_size)
        outcome = self.queue.submit(spec)
        return outcome.chunks if outcome.created else 0

    def get_next_task(
        self, consumer_name: str, block_ms: int = 5000
    ) -> dict[str, Any] | None:
        """The next task for ``consumer_name``, or None after ``block_ms``."""
        tasks = self.queue.fetch(consumer_name, count=1, block_ms=block_ms)
        return task_dict(tasks[0]) if tasks else None

    def ack_task(self, message_id: str) -> int:
        """Acknowledge a task (XACK)."""
        return int(
            self.queue.client.xack(self.keys.tasks, self.consumer_group, message_id)
        )

    def publish_result(
        self,
        chunk_id: str,
        worker_id: str,
        status: str,
        duration_seconds: float,
        result_data: dict[str, Any],
    ) -> bool:
        """Store a chunk's result; False if the chunk already had one."""
        now = time.time()
        count = int(result_data.get("count", 0))
        fields = {
            "chunk_id": str(chunk_id),
            "worker_id": str(worker_id),
            "status": status,
            "duration_seconds": repr(float(duration_seconds)),
            "started_at": repr(now - float(duration_seconds)),
            "finished_at": repr(now),
            "attempt": "1",
            "recovered": "0",
            "dead_params": "0",
            "start_param": str(result_data.get("start_param", "")),
            "end_param": str(result_data.get("end_param", "")),
            "count": str(count),
            "result_data": json.dumps(result_data),
        }
        for name in ("sum", "min", "max", "avg"):
            if name in result_data:
                fields[name] = repr(float(result_data[name]))
        return self.queue.store_result(str(chunk_id), fields, count)

    def get_queue_stats(self) -> dict[str, int]:
        """Tasks total, pending (delivered, unacknowledged), results and consumers."""
        client = self.queue.client
        with client.pipeline(transaction=False) as pipe:
            pipe.xlen(self.keys.tasks)
            pipe.xlen(self.keys.results)
            replies = pipe.execute()
        in_flight, consumers = 0, 0
        try:
            groups = client.xinfo_groups(self.keys.tasks)
        except redis.ResponseError:
            groups = []
        for group in groups:
            if group["name"] == self.consumer_group:
                in_flight, consumers = int(group["pending"]), int(group["consumers"])
        return {
            "tasks_total": int(replies[0]),
            "tasks_pending": in_flight,
            "results_count": int(replies[1]),
            "consumers": consumers,
        }

    def claim_stale_tasks(
        self, consumer_name: str, min_idle_ms: int = 60_000, count: int = 10
    ) -> list[dict[str, Any]]:
        """Take over tasks idle longer than ``min_idle_ms`` (XAUTOCLAIM)."""
        tasks = self.queue.reclaim(consumer_name, min_idle_ms, count)
        return [task_dict(task) for task in tasks]


def task_dict(task: Task) -> dict[str, Any]:
    """A task in the original API's shape."""
    chunk = task.chunk
    return {
        "message_id": task.message_id,
        "chunk_id": chunk.chunk_id,
        "start_param": chunk.start_param,
        "end_param": chunk.end_param,
        "total_params": chunk.total_params,
        "attempt": task.attempt,
    }


class QueueWorker:
    """The original ``worker.QueueWorker``; :meth:`run` returns its summary.

    ``run_id``, ``redis_password``, ``lease_seconds`` and ``max_attempts`` are
    additions with defaults.
    """

    def __init__(
        self,
        worker_id: int | str = 0,
        redis_host: str = "ttg-redis",
        redis_port: int = 6379,
        total_params: int = 10_000,
        chunk_size: int = 100,
        idle_timeout_seconds: float = 30,
        simulate_work_ms: float = 1,
        *,
        run_id: str = "default",
        redis_password: str | None = None,
        lease_seconds: float = 10.0,
        max_attempts: int = 3,
    ) -> None:
        self.redis = RedisSettings(
            host=redis_host, port=redis_port, password=redis_password
        )
        self.spec = RunSpec(
            run_id=run_id,
            total_params=total_params,
            chunk_size=chunk_size,
            work_ms=simulate_work_ms,
        )
        self.settings = WorkerSettings(
            run_id=run_id,
            worker_id=str(worker_id),
            mode="queue",
            work_ms=simulate_work_ms,
            idle_timeout_seconds=idle_timeout_seconds,
            lease_seconds=lease_seconds,
            max_attempts=max_attempts,
        )

    def run(self) -> dict[str, object]:
        """Submit the run if nobody has, work it, and return the summary."""
        client = connect(self.redis)
        try:
            RunQueue(client, self.spec.run_id).submit(self.spec)
            return Worker(client, self.settings).run().to_dict()
        finally:
            client.close()
