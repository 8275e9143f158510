"""The report and the results table: figures, verification, JSON, DataFrame."""

from __future__ import annotations

import pytest
import redis

from tests.helpers import run_threads
from ttglib.config import RedisSettings, RunSpec, WorkerSettings
from ttglib.queue import RunQueue
from ttglib.report import build_report, efficiency_bound
from ttglib.results import load_results
from ttglib.workloads import reference_value


@pytest.fixture
def finished_run(
    client: redis.Redis, redis_settings: RedisSettings, run_id: str
) -> str:
    # 5 ms chunks, so that both workers surely take part.
    RunQueue(client, run_id).submit(
        RunSpec(run_id, total_params=10_000, chunk_size=100, workers=2, work_ms=0.05)
    )
    run_threads(
        redis_settings,
        [
            WorkerSettings(run_id=run_id, worker_id=str(i), work_ms=0.05)
            for i in range(2)
        ],
    )
    return run_id


def test_report_gives_the_original_reference_figures(
    client: redis.Redis, finished_run: str
) -> None:
    report = build_report(client, finished_run)
    text = report.render_text()

    assert "Total Parameters Processed:                 10,000" in text
    assert "Total Chunks Processed:                        100" in text
    assert "Grand Sum:                            5,000,355.00" in text
    assert "Global Min:                                   0.41" in text
    assert "Global Max:                                 999.98" in text
    assert "Overall Average:                          500.0355" in text
    assert "Chunks Missing:                                  0" in text
    assert "worker-0:" in text and "worker-1:" in text


def test_report_json_keys_are_snake_case(
    client: redis.Redis, finished_run: str
) -> None:
    data = build_report(client, finished_run).to_dict()

    for key in (
        "params_per_second",
        "grand_sum",
        "efficiency",
        "global_min",
        "global_max",
        "overall_average",
        "parallelism_factor",
        "cpu_params_per_second",
        "worker_distribution",
        "verification",
    ):
        assert key in data
    assert data["verification"]["ok"] is True
    assert sum(w["chunks"] for w in data["worker_distribution"]) == 100
    assert 0 < data["efficiency"] <= 1


def test_verbose_report_lists_every_chunk(
    client: redis.Redis, finished_run: str
) -> None:
    report = build_report(client, finished_run, verbose=True)

    assert len(report.chunks) == 100
    assert report.render_text(verbose=True).count(" try 1 ") == 100


def test_results_table_has_one_row_per_chunk(
    client: redis.Redis, finished_run: str
) -> None:
    frame = load_results(client, finished_run)

    assert len(frame) == 100 and frame["chunk_id"].is_unique
    assert frame["sum"].sum() == pytest.approx(
        sum(reference_value(p) for p in range(10_000))
    )
    assert frame["count"].dtype == "int64" and frame["started_at"].dtype == "float64"
    assert (frame["finished_at"] >= frame["started_at"]).all()
    assert set(frame["worker_id"]) == {"worker-0", "worker-1"}
    assert not frame["recovered"].any()


def test_a_run_with_missing_chunks_is_not_ok(client: redis.Redis, run_id: str) -> None:
    RunQueue(client, run_id).submit(RunSpec(run_id, total_params=100, chunk_size=10))

    verification = build_report(client, run_id).verification

    assert verification.chunks_missing == 10 and not verification.ok


@pytest.mark.parametrize(
    ("chunks", "workers", "bound"),
    [(100, 3, 100 / 102), (100, 16, 100 / 112), (1000, 8, 1.0), (5, 10, 0.5)],
)
def test_efficiency_bound(chunks: int, workers: int, bound: float) -> None:
    assert efficiency_bound(chunks, workers) == pytest.approx(bound)
