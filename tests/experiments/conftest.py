"""Fixtures of the experiment-layer tests: synthetic tables and results.

The synthetic sweep table follows a simple model of a queue run, so tests can
say which configuration should win without copying figures: each chunk costs
a fixed overhead on top of its work, and the last round of chunks leaves some
workers idle.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from ttglib.embedded import EmbeddedRedis
from ttglib.local import LocalRunner

OVERHEAD_SECONDS = 0.004


def modelled_wall(total: int, work_ms: float, chunk: int, workers: int) -> float:
    """Wall time of a queue run in the overhead-plus-rounds model."""
    chunks = math.ceil(total / chunk)
    rounds = math.ceil(chunks / workers)
    return rounds * (chunk * work_ms / 1000 + OVERHEAD_SECONDS)


def synthetic_row(
    chunk: int,
    workers: int,
    repeat: int,
    plan: str = "fixed",
    cost_model: str = "constant",
    total: int = 10_000,
    work_ms: float = 1.0,
) -> dict[str, Any]:
    """One sweep-table row whose figures follow :func:`modelled_wall`."""
    wall = modelled_wall(total, work_ms, chunk, workers) * (1 + 0.02 * repeat)
    ideal = total * work_ms / 1000
    chunks = math.ceil(total / chunk)
    per_worker = [chunks // workers + (i < chunks % workers) for i in range(workers)]
    params = [min(n * chunk, total) for n in per_worker]
    params[-1] = total - sum(params[:-1])
    return {
        "sweep_id": "sweep-test",
        "run_id": f"sweep-test-{plan}-{cost_model}-{workers}-{chunk}-{repeat}",
        "plan": plan,
        "mode": "static" if plan == "static" else "queue",
        "chunk_size": chunk,
        "workers": workers,
        "cost_model": cost_model,
        "cost_name": cost_model,
        "cost_seed": 0,
        "cost_spec": json.dumps(None),
        "repeat": repeat,
        "total_params": total,
        "work_ms": work_ms,
        "wall_seconds": wall,
        "ideal_seconds": ideal,
        "params_per_second": total / wall,
        "efficiency": ideal / (workers * wall),
        "bound": chunks / (workers * math.ceil(chunks / workers)),
        "chunks": chunks,
        "worker_chunks": per_worker,
        "worker_params": params,
        "max_share": max(params) / total,
        "recoveries": 0,
        "retries": 0,
        "duplicates": 0,
        "chunks_missing": 0,
        "verified": True,
    }


@pytest.fixture(scope="session")
def runner(redis_server: EmbeddedRedis) -> Iterator[LocalRunner]:
    """A local runner on the suite's redis-server; its workers are real processes."""
    with LocalRunner(redis_server.settings) as local:
        yield local


@pytest.fixture
def chunk_sweep() -> pd.DataFrame:
    """A chunk-size sweep: sizes 1 to 1000, 1, 2 and 4 workers, 3 repeats."""
    rows = [
        synthetic_row(chunk, workers, repeat)
        for repeat in range(3)
        for workers in (1, 2, 4)
        for chunk in (1, 10, 100, 1000)
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def plans_sweep() -> pd.DataFrame:
    """Four plans under two cost models at 4 workers and chunks of 100.

    Static is made 50% slower under ``stragglers`` and level under
    ``constant``; guided is the fastest under ``stragglers``.
    """
    slowdown = {
        ("constant", "static"): 1.0,
        ("constant", "fixed"): 1.01,
        ("constant", "guided"): 1.02,
        ("constant", "adaptive"): 1.01,
        ("stragglers", "static"): 1.5,
        ("stragglers", "fixed"): 1.1,
        ("stragglers", "guided"): 1.0,
        ("stragglers", "adaptive"): 1.05,
    }
    rows = []
    for (model, plan), factor in slowdown.items():
        for repeat in range(2):
            row = synthetic_row(100, 4, repeat, plan=plan, cost_model=model)
            row["wall_seconds"] *= factor
            row["params_per_second"] = 10_000 / row["wall_seconds"]
            row["efficiency"] = row["ideal_seconds"] / (4 * row["wall_seconds"])
            rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture
def run_results() -> pd.DataFrame:
    """Results of a 2-worker run: worker-0 died after two chunks, worker-1
    recovered its third chunk and retried one that failed once."""
    base = 1_700_000_000.0
    rows = [
        # chunk, worker, attempt, recovered, start offset, duration
        ("00000", "worker-0", 1, False, 0.0, 0.1),
        ("00001", "worker-1", 1, False, 0.0, 0.1),
        ("00002", "worker-0", 1, False, 0.1, 0.1),
        ("00003", "worker-1", 2, False, 0.1, 0.1),
        ("00004", "worker-1", 1, True, 1.3, 0.1),
        ("00005", "worker-1", 1, False, 0.2, 0.1),
    ]
    return pd.DataFrame(
        {
            "chunk_id": [r[0] for r in rows],
            "start_param": [int(r[0]) * 10 for r in rows],
            "end_param": [int(r[0]) * 10 + 10 for r in rows],
            "count": [10] * len(rows),
            "worker_id": [r[1] for r in rows],
            "attempt": [r[2] for r in rows],
            "recovered": [r[3] for r in rows],
            "started_at": [base + r[4] for r in rows],
            "finished_at": [base + r[4] + r[5] for r in rows],
            "duration_seconds": [r[5] for r in rows],
            "dead_params": [0] * len(rows),
        }
    )
