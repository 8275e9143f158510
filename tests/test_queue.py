"""The queue's Redis steps, one guarantee at a time, on a real redis-server."""

from __future__ import annotations

import time

import pytest
import redis

from tests.helpers import pending_owners
from ttglib.chunks import plan_chunks
from ttglib.config import RunSpec
from ttglib.errors import RunConflictError, RunNotFoundError
from ttglib.keys import GROUP, RUNS_INDEX, RunKeys
from ttglib.queue import ChunkResult, RunQueue, Task, list_runs
from ttglib.workloads import ChunkValues


def result_for(task: Task, worker: str, total: float = 1.0) -> ChunkResult:
    values = ChunkValues(count=task.chunk.size, total=total, minimum=0.0, maximum=1.0)
    now = time.time()
    return ChunkResult(task, worker, values, now - 0.01, now)


def test_submit_writes_meta_and_one_task_per_chunk(
    client: redis.Redis, run_id: str
) -> None:
    queue = RunQueue(client, run_id)

    outcome = queue.submit(RunSpec(run_id, total_params=1_050, chunk_size=100))

    assert outcome.created and outcome.chunks == 11
    assert client.xlen(queue.keys.tasks) == 11
    assert queue.meta().total_chunks == 11
    first = client.xrange(queue.keys.tasks, count=1)[0][1]
    assert first == {
        "chunk_id": "00000",
        "start_param": "0",
        "end_param": "100",
        "total_params": "1050",
        "attempt": "1",
    }
    last = client.xrevrange(queue.keys.tasks, count=1)[0][1]
    assert (last["start_param"], last["end_param"]) == ("1000", "1050")
    assert run_id in list_runs(client)


def test_submitting_twice_adds_nothing(client: redis.Redis, run_id: str) -> None:
    queue = RunQueue(client, run_id)
    spec = RunSpec(run_id, total_params=500, chunk_size=50)

    first = queue.submit(spec)
    second = RunQueue(client, run_id).submit(spec)

    assert first.created and not second.created
    assert client.xlen(queue.keys.tasks) == 10


def test_submitting_another_cut_under_the_same_id_is_refused(
    client: redis.Redis, run_id: str
) -> None:
    RunQueue(client, run_id).submit(RunSpec(run_id, total_params=500, chunk_size=50))

    with pytest.raises(RunConflictError, match="exists with 500 params"):
        RunQueue(client, run_id).submit(
            RunSpec(run_id, total_params=500, chunk_size=25)
        )


def test_submit_of_100k_tasks_is_complete(client: redis.Redis, run_id: str) -> None:
    queue = RunQueue(client, run_id)

    outcome = queue.submit(RunSpec(run_id, total_params=100_000, chunk_size=1))

    assert outcome.chunks == 100_000
    assert client.xlen(queue.keys.tasks) == 100_000


def test_two_runs_never_see_each_other(client: redis.Redis, run_id: str) -> None:
    other_id = run_id + "-other"
    try:
        mine, other = RunQueue(client, run_id), RunQueue(client, other_id)
        mine.submit(RunSpec(run_id, total_params=100, chunk_size=10))
        other.submit(RunSpec(other_id, total_params=300, chunk_size=10))

        taken = mine.fetch("worker-0", count=100)

        assert len(taken) == 10
        assert other.fetch("worker-0", count=100) and len(taken) == 10
        assert set(mine.keys.all()).isdisjoint(other.keys.all())
    finally:
        RunQueue(client, other_id).delete()


def test_all_keys_of_a_run_share_one_hash_tag(run_id: str) -> None:
    keys = RunKeys.for_run(run_id)

    tags = {key[key.index("{") : key.index("}") + 1] for key in keys.all()}

    assert tags == {"{" + run_id + "}"}


def test_each_task_goes_to_one_consumer(client: redis.Redis, run_id: str) -> None:
    queue = RunQueue(client, run_id)
    queue.submit(RunSpec(run_id, total_params=100, chunk_size=10))

    first = queue.fetch("worker-0", count=6)
    second = queue.fetch("worker-1", count=6)

    assert len(first) == 6 and len(second) == 4
    assert not {t.chunk.chunk_id for t in first} & {t.chunk.chunk_id for t in second}


def test_first_result_wins_and_a_late_duplicate_is_suppressed(
    client: redis.Redis, run_id: str
) -> None:
    queue = RunQueue(client, run_id)
    queue.submit(RunSpec(run_id, total_params=10, chunk_size=10))
    task = queue.fetch("worker-0")[0]

    stored_first, _ = queue.complete([result_for(task, "worker-0", total=1.0)])
    stored_again, _ = queue.complete([result_for(task, "worker-1", total=2.0)])

    assert stored_first == [True] and stored_again == [False]
    results = client.xrange(queue.keys.results)
    assert len(results) == 1 and results[0][1]["sum"] == "1.0"
    assert queue.counters()["duplicates"] == 1
    assert queue.counters()["params"] == 10
    assert pending_owners(client, queue.keys.tasks, GROUP) == {}


def test_duplicate_delivery_after_a_lease_expired_counts_once(
    client: redis.Redis, run_id: str
) -> None:
    queue = RunQueue(client, run_id)
    queue.submit(RunSpec(run_id, total_params=10, chunk_size=10))
    slow_task = queue.fetch("worker-slow")[0]
    time.sleep(0.15)

    taken = queue.reclaim("worker-fast", min_idle_ms=100, count=10)
    assert [t.message_id for t in taken] == [slow_task.message_id]
    assert taken[0].attempt == 2 and taken[0].recovered
    fast_stored, _ = queue.complete([result_for(taken[0], "worker-fast")])
    slow_stored, _ = queue.complete([result_for(slow_task, "worker-slow")])

    assert (fast_stored, slow_stored) == ([True], [False])
    assert client.xlen(queue.keys.results) == 1
    assert queue.counters()["recoveries"] == 1


def test_renewal_keeps_a_live_workers_task_from_reclaim(
    client: redis.Redis, run_id: str
) -> None:
    queue = RunQueue(client, run_id)
    queue.submit(RunSpec(run_id, total_params=10, chunk_size=10))
    task = queue.fetch("worker-0")[0]

    for _ in range(4):
        time.sleep(0.06)
        assert queue.renew("worker-0", [task.message_id]).renewed == [task.message_id]
        assert queue.reclaim("worker-1", min_idle_ms=100) == []

    assert pending_owners(client, queue.keys.tasks, GROUP) == {
        task.message_id: "worker-0"
    }


def test_renewal_never_takes_a_task_back_from_its_new_owner(
    client: redis.Redis, run_id: str
) -> None:
    queue = RunQueue(client, run_id)
    queue.submit(RunSpec(run_id, total_params=10, chunk_size=10))
    task = queue.fetch("worker-0")[0]
    time.sleep(0.12)
    assert queue.reclaim("worker-1", min_idle_ms=100)

    renewal = queue.renew("worker-0", [task.message_id])

    assert renewal.renewed == [] and renewal.taken == [task.message_id]
    assert pending_owners(client, queue.keys.tasks, GROUP) == {
        task.message_id: "worker-1"
    }


def test_reclaim_walks_the_whole_pending_list_with_its_cursor(
    client: redis.Redis, run_id: str
) -> None:
    queue = RunQueue(client, run_id)
    queue.submit(RunSpec(run_id, total_params=50, chunk_size=1))
    queue.fetch("worker-dead", count=50)
    time.sleep(0.12)

    seen: list[str] = []
    for _ in range(30):
        seen += [t.chunk.chunk_id for t in queue.reclaim("worker-1", 100, count=7)]

    assert sorted(seen) == [c.chunk_id for c in plan_chunks(RunSpec(run_id, 50, 1))]


def test_retry_requeues_with_the_next_attempt(client: redis.Redis, run_id: str) -> None:
    queue = RunQueue(client, run_id)
    queue.submit(RunSpec(run_id, total_params=10, chunk_size=10))
    task = queue.fetch("worker-0")[0]

    assert queue.retry(task, "worker-0")

    again = queue.fetch("worker-1")
    assert again[0].chunk == task.chunk and again[0].attempt == 2
    assert pending_owners(client, queue.keys.tasks, GROUP) == {
        again[0].message_id: "worker-1"
    }
    assert queue.counters()["retries"] == 1


def test_only_the_owner_may_retry(client: redis.Redis, run_id: str) -> None:
    queue = RunQueue(client, run_id)
    queue.submit(RunSpec(run_id, total_params=10, chunk_size=10))
    task = queue.fetch("worker-0")[0]

    assert not queue.retry(task, "worker-1")
    assert client.xlen(queue.keys.tasks) == 1


def test_released_tasks_are_reclaimed_at_once(client: redis.Redis, run_id: str) -> None:
    queue = RunQueue(client, run_id)
    queue.submit(RunSpec(run_id, total_params=30, chunk_size=10))
    tasks = queue.fetch("worker-0", count=3)

    assert queue.release("worker-0", [t.message_id for t in tasks], idle_ms=60_000) == 3

    taken = queue.reclaim("worker-1", min_idle_ms=10_000, count=10)
    assert len(taken) == 3


def test_finished_means_every_chunk_settled(client: redis.Redis, run_id: str) -> None:
    queue = RunQueue(client, run_id)
    queue.submit(RunSpec(run_id, total_params=20, chunk_size=10))
    tasks = queue.fetch("worker-0", count=2)

    queue.complete([result_for(tasks[0], "worker-0")])
    assert not queue.is_finished()
    queue.complete([result_for(tasks[1], "worker-0")])

    assert queue.is_finished()
    assert queue.progress().params_done == 20


def test_a_result_and_the_next_read_share_one_round_trip(
    client: redis.Redis, run_id: str
) -> None:
    queue = RunQueue(client, run_id)
    queue.submit(RunSpec(run_id, total_params=30, chunk_size=10))
    first = queue.fetch("worker-0")

    stored, following = queue.complete(
        [result_for(first[0], "worker-0")], then_fetch=("worker-0", 5, 0)
    )

    assert stored == [True]
    assert [t.chunk.chunk_id for t in following] == ["00001", "00002"]


def test_meta_of_an_unknown_run_is_a_clear_error(client: redis.Redis) -> None:
    with pytest.raises(RunNotFoundError, match="no run 'nope'"):
        RunQueue(client, "nope").meta()


def test_delete_removes_every_key_of_the_run(client: redis.Redis, run_id: str) -> None:
    queue = RunQueue(client, run_id)
    queue.submit(RunSpec(run_id, total_params=20, chunk_size=10))
    queue.complete([result_for(queue.fetch("worker-0")[0], "worker-0")])

    queue.delete()

    assert client.exists(*queue.keys.all()) == 0
    assert client.zscore(RUNS_INDEX, run_id) is None
