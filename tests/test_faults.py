"""Faults with real processes: a worker killed, a worker stopped, Redis restarted."""

from __future__ import annotations

import json
import signal
import time

import pytest
import redis

from tests.helpers import REFERENCE_SUM_10K, start_worker_process, wait_until
from ttglib.config import RedisSettings, RunSpec, WorkerSettings
from ttglib.connection import connect
from ttglib.embedded import EmbeddedRedis
from ttglib.local import LocalRunner
from ttglib.queue import RunQueue
from ttglib.report import build_report
from ttglib.results import load_results


def test_a_worker_killed_mid_chunk_loses_nothing(
    redis_settings: RedisSettings, run_id: str
) -> None:
    spec = RunSpec(run_id, total_params=10_000, chunk_size=100, workers=3, work_ms=1.0)
    options = WorkerSettings(run_id=run_id, lease_seconds=1.0, work_ms=1.0)

    with LocalRunner(redis_settings) as runner:
        outcome = runner.run(spec, options, kill_worker_after=0.8)
        frame = load_results(runner.client, run_id)

    report = outcome.report
    assert outcome.killed == [0] and outcome.failed_workers == []
    assert f"{report.grand_sum:,.2f}" == "5,000,355.00"
    assert report.verification.ok and report.verification.chunks_with_result == 100
    assert report.verification.recoveries >= 1
    assert frame["recovered"].sum() >= 1
    assert set(frame.loc[frame["recovered"], "worker_id"]) <= {"worker-1", "worker-2"}


def test_sigterm_finishes_the_current_chunk_and_exits_zero(
    client: redis.Redis, redis_url: str, run_id: str
) -> None:
    RunQueue(client, run_id).submit(RunSpec(run_id, total_params=400, chunk_size=10))
    stopped = start_worker_process(redis_url, run_id, "0", "--work-ms", "20")
    other = start_worker_process(redis_url, run_id, "1", "--work-ms", "20")
    wait_until(
        lambda: RunQueue(client, run_id).settled_count() >= 2, 20, "first chunks"
    )

    stopped.send_signal(signal.SIGTERM)
    out, err = stopped.communicate(timeout=10)
    other.communicate(timeout=30)

    assert stopped.returncode == 0, err
    summary = json.loads(out.split("FINAL SUMMARY", 1)[1])
    assert summary["status"] == "stopped"
    assert "no new tasks" in err
    assert other.returncode == 0
    report = build_report(client, run_id)
    assert report.verification.ok and report.verification.duplicates_suppressed == 0


def test_sigterm_past_the_grace_period_leaves_the_chunk_to_others(
    client: redis.Redis, redis_url: str, run_id: str
) -> None:
    # One chunk of 4 s; the worker gets 0.3 s of grace, so it must let the
    # chunk go unanswered, and another worker must finish it.
    RunQueue(client, run_id).submit(RunSpec(run_id, total_params=20, chunk_size=20))
    stopped = start_worker_process(
        redis_url, run_id, "0", "--work-ms", "200", "--grace-seconds", "0.3"
    )
    wait_until(lambda: bool(RunQueue(client, run_id).workers()), 20, "the worker")
    time.sleep(0.8)

    began = time.monotonic()
    stopped.send_signal(signal.SIGTERM)
    stopped.communicate(timeout=10)
    took = time.monotonic() - began
    other = start_worker_process(
        redis_url, run_id, "1", "--work-ms", "0", "--lease-seconds", "60"
    )
    other.communicate(timeout=30)

    assert stopped.returncode == 0 and other.returncode == 0
    assert took < 3.5
    frame = load_results(client, run_id)
    assert list(frame["worker_id"]) == ["worker-1"] and bool(frame.loc[0, "recovered"])


def test_a_redis_restart_mid_run_loses_nothing(tmp_path, run_id: str) -> None:  # type: ignore[no-untyped-def]
    server = EmbeddedRedis(data_dir=tmp_path).start()
    try:
        client = connect(server.settings)
        RunQueue(client, run_id).submit(
            RunSpec(run_id, total_params=10_000, chunk_size=100)
        )
        workers = [
            start_worker_process(server.url, run_id, str(i), "--lease-seconds", "1")
            for i in range(2)
        ]
        wait_until(
            lambda: RunQueue(client, run_id).settled_count() >= 15, 20, "progress"
        )

        server.kill()
        time.sleep(1.0)
        server.start()

        errors = [worker.communicate(timeout=60)[1] for worker in workers]
        assert [worker.returncode for worker in workers] == [0, 0], errors
        assert any("Redis unreachable" in text for text in errors)
        report = build_report(connect(server.settings), run_id)
        assert f"{report.grand_sum:,.2f}" == "5,000,355.00"
        assert report.verification.ok
        assert report.verification.duplicates_in_results == 0
    finally:
        server.stop()


@pytest.mark.slow
def test_repeated_kills_soak(redis_settings: RedisSettings, run_id: str) -> None:
    """Soak: ten runs, each losing a worker mid-chunk, all exact."""
    with LocalRunner(redis_settings) as runner:
        for attempt in range(10):
            spec = RunSpec(f"{run_id}-{attempt}", 10_000, 100, workers=3, work_ms=1.0)
            options = WorkerSettings(run_id=spec.run_id, lease_seconds=1.0)
            outcome = runner.run(spec, options, kill_worker_after=0.3 + attempt * 0.25)
            assert outcome.report.grand_sum == pytest.approx(REFERENCE_SUM_10K)
            assert outcome.report.verification.ok
            RunQueue(runner.client, spec.run_id).delete()


def test_sigterm_while_waiting_for_the_run_exits_zero(
    client: redis.Redis, redis_url: str, run_id: str
) -> None:
    waiting = start_worker_process(redis_url, run_id, "0", "--idle-timeout", "30")
    wait_until(lambda: bool(RunQueue(client, run_id).workers()), 20, "the worker")

    waiting.send_signal(signal.SIGTERM)
    out, err = waiting.communicate(timeout=10)

    assert waiting.returncode == 0, err
    assert json.loads(out.split("FINAL SUMMARY", 1)[1])["status"] == "stopped"
