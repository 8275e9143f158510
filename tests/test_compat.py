"""The original system's Python API keeps working as its guide documents."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
import redis

from ttglib.compat import QueueWorker, TaskQueue
from ttglib.embedded import EmbeddedRedis
from ttglib.report import build_report


@pytest.fixture
def legacy_queue(redis_server: EmbeddedRedis, client: redis.Redis):  # type: ignore[no-untyped-def]
    queue = TaskQueue(
        host="127.0.0.1",
        port=redis_server.port,
        task_stream="ttg:tasks",
        result_stream="ttg:results",
        consumer_group="ttg-workers",
    )
    queue.connect()
    yield queue
    queue.disconnect()
    client.delete(*TaskQueue(task_stream="ttg:tasks").keys.all())


def test_task_queue_walks_the_documented_steps(legacy_queue: TaskQueue) -> None:
    count = legacy_queue.initialize_tasks(total_params=10_000, chunk_size=100)
    again = legacy_queue.initialize_tasks(total_params=10_000, chunk_size=100)
    task = legacy_queue.get_next_task(consumer_name="worker-0", block_ms=5000)

    assert (count, again) == (100, 0)
    assert task is not None
    assert task["chunk_id"] == "00000"
    assert (task["start_param"], task["end_param"]) == (0, 100)
    assert legacy_queue.get_queue_stats()["tasks_pending"] == 1

    legacy_queue.ack_task(task["message_id"])
    stored = legacy_queue.publish_result(
        chunk_id="00000",
        worker_id="worker-0",
        status="completed",
        duration_seconds=0.20,
        result_data={"sum": 45000.5, "count": 100},
    )
    duplicate = legacy_queue.publish_result(
        chunk_id="00000",
        worker_id="worker-1",
        status="completed",
        duration_seconds=0.20,
        result_data={"sum": 45000.5, "count": 100},
    )
    stats = legacy_queue.get_queue_stats()

    assert (stored, duplicate) == (True, False)
    assert stats == {
        "tasks_total": 100,
        "tasks_pending": 0,
        "results_count": 1,
        "consumers": 1,
    }


def test_claim_stale_tasks_takes_over_idle_ones(legacy_queue: TaskQueue) -> None:
    legacy_queue.initialize_tasks(total_params=300, chunk_size=100)
    first = legacy_queue.get_next_task("worker-0", block_ms=100)
    time.sleep(0.15)

    claimed = legacy_queue.claim_stale_tasks("worker-1", min_idle_ms=100, count=10)

    assert first is not None
    assert [t["message_id"] for t in claimed] == [first["message_id"]]


def test_queue_worker_runs_and_returns_its_summary(
    redis_server: EmbeddedRedis, client: redis.Redis, run_id: str
) -> None:
    port = urlsplit(redis_server.url).port
    worker = QueueWorker(
        worker_id=0,
        redis_host="127.0.0.1",
        redis_port=port,
        total_params=1_000,
        chunk_size=100,
        idle_timeout_seconds=5,
        simulate_work_ms=0,
        run_id=run_id,
    )

    summary = worker.run()

    assert summary["status"] == "completed"
    assert summary["chunks_processed"] == 10
    assert build_report(client, run_id).verification.ok
