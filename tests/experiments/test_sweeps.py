"""Sweeps: the grid, the tidy table, saving and reading it back, and the sentences."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ttglib import experiments, findings
from ttglib.chunks import plan_chunks
from ttglib.config import RunSpec
from ttglib.errors import UsageError
from ttglib.local import LocalRunner
from ttglib.notebook import ENVIRONMENT_MIME
from ttglib.queue import RunQueue

from .conftest import modelled_wall

STRAGGLERS = {
    "name": "stragglers",
    "fraction": 0.05,
    "factor": 20,
    "block": 50,
    "seed": 3,
}


# --- the grid ------------------------------------------------------------------


def test_grid_crosses_every_axis_with_repeats_outermost() -> None:
    grid = experiments.SweepGrid(
        chunk_sizes=(1, 10),
        workers=(1, 2),
        plans=("static", "fixed"),
        cost_models=(None, STRAGGLERS),
        repeats=2,
    )

    configurations = grid.configurations()

    assert len(configurations) == 2 * 2 * 2 * 2 * 2
    assert [c.repeat for c in configurations] == [0] * 16 + [1] * 16
    assert (
        len(
            {
                (c.plan, c.chunk_size, c.workers, json.dumps(c.cost_model), c.repeat)
                for c in configurations
            }
        )
        == 32
    )


def test_configuration_spec_puts_the_static_plan_in_static_mode() -> None:
    static = experiments.Configuration("static", 10, 3).spec(
        "r1", 100, 1.0, "reference"
    )
    guided = experiments.Configuration("guided", 10, 3, STRAGGLERS).spec(
        "r2", 100, 1.0, "reference"
    )

    assert (static.mode, static.plan) == ("static", "static")
    assert (guided.mode, guided.plan, guided.cost_model) == (
        "queue",
        "guided",
        STRAGGLERS,
    )


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"plans": ("dynamic",)}, "unknown plan dynamic"),
        ({"repeats": 0}, "repeats"),
        ({"workers": ()}, "at least one value"),
        ({"cost_models": ({"name": "pareto"},)}, "unknown cost model"),
    ],
)
def test_grid_refuses_what_cannot_run(options: dict[str, Any], fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        experiments.SweepGrid(**options)


def test_worker_settings_follow_the_spec() -> None:
    spec = RunSpec("ws", work_ms=2.5, task="reference")

    settings = experiments.worker_settings(spec, lease_seconds=3.0)

    assert (settings.run_id, settings.work_ms, settings.task) == (
        "ws",
        2.5,
        "reference",
    )
    assert settings.lease_seconds == 3.0


# --- saving and loading ----------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_survives_a_save_and_load(
    chunk_sweep: pd.DataFrame, tmp_path: Path, suffix: str
) -> None:
    path = experiments.save_table(chunk_sweep, tmp_path / "deep" / f"sweep{suffix}")

    loaded = experiments.load_table(path)

    pd.testing.assert_frame_equal(loaded, chunk_sweep, check_dtype=False)
    assert loaded["worker_params"].iloc[5] == chunk_sweep["worker_params"].iloc[5]


def test_table_formats_other_than_csv_and_parquet_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"\.csv or \.parquet"):
        experiments.save_table(pd.DataFrame(), tmp_path / "sweep.xlsx")


# --- reading the table -----------------------------------------------------------


def test_summary_has_one_row_per_configuration_with_the_repeats(
    chunk_sweep: pd.DataFrame,
) -> None:
    summary = findings.summarize(chunk_sweep)

    assert len(summary) == 12
    assert set(summary["repeats"]) == {3}
    row = summary[(summary["workers"] == 2) & (summary["chunk_size"] == 10)].iloc[0]
    chosen = chunk_sweep[
        (chunk_sweep["workers"] == 2) & (chunk_sweep["chunk_size"] == 10)
    ]
    assert row["params_per_second_mean"] == pytest.approx(
        chosen["params_per_second"].mean()
    )
    assert row["params_per_second_min"] == chosen["params_per_second"].min()


def test_best_chunk_size_is_the_one_with_the_least_modelled_wall_time(
    chunk_sweep: pd.DataFrame,
) -> None:
    best = findings.best_chunk_sizes(chunk_sweep).set_index("workers")

    for workers in (1, 2, 4):
        expected = min(
            (1, 10, 100, 1000), key=lambda c: modelled_wall(10_000, 1.0, c, workers)
        )
        assert best.loc[workers, "chunk_size"] == expected


def test_best_chunk_size_sentence_is_written_from_the_data(
    chunk_sweep: pd.DataFrame,
) -> None:
    best = findings.best_chunk_sizes(chunk_sweep).set_index("workers")

    sentence = findings.describe_best_chunk_size(chunk_sweep)

    top = best.loc[4]
    assert (
        f"chunks of {int(top['chunk_size']):,} reached {top['params_per_second']:,.0f}"
        in sentence
    )
    assert f"{top['efficiency']:.0%} efficiency" in sentence
    for _, row in best.iterrows():
        assert f"chunks of {int(row['chunk_size']):,}" in sentence.lower()
    assert sentence.startswith("Chunks of ")


def test_plan_sentences_name_where_static_loses_and_by_how_much(
    plans_sweep: pd.DataFrame,
) -> None:
    comparison = findings.plan_comparison(plans_sweep)

    text = findings.describe_plans(plans_sweep)

    straggling = comparison[comparison["cost_model"] == "stragglers"].set_index("plan")
    loss = straggling.loc["static", "slower_than_best"]
    assert straggling.loc["static", "best_plan"] == "guided"
    assert f"static took {straggling.loc['static', 'wall_seconds']:.2f} s" in text
    assert f"{loss:.0%} longer than guided" in text
    assert f"loses most under stragglers: {loss:.0%}" in text
    assert "Under constant, static took" in text and "within 5%" in text


def test_run_ids_pick_rows_by_column_values(plans_sweep: pd.DataFrame) -> None:
    chosen = findings.run_ids(plans_sweep, plan="guided", cost_model="constant")

    assert len(chosen) == 2 and all("guided-constant" in run_id for run_id in chosen)


def test_environment_shows_as_a_table_and_keeps_its_json_for_reports() -> None:
    environment = experiments.environment("7.0.15", {"workers": [1, 2]})

    bundle = environment._repr_mimebundle_()

    assert bundle[ENVIRONMENT_MIME]["redis_version"] == "7.0.15"
    assert bundle[ENVIRONMENT_MIME]["cores"] >= 1
    assert "<table" in bundle["text/html"] and "[1, 2]" in bundle["text/html"]
    assert "Redis: 7.0.15" in bundle["text/plain"]


# --- real runs -------------------------------------------------------------------


def test_sweep_runs_each_configuration_and_returns_the_tidy_table(
    runner: LocalRunner,
) -> None:
    grid = experiments.SweepGrid(
        total_params=300,
        work_ms=1.0,
        chunk_sizes=(10, 100),
        workers=(1, 2),
        plans=("static", "fixed"),
        repeats=1,
    )

    table = experiments.run_sweep(grid, runner, progress=False)

    assert len(table) == 8
    assert table["verified"].all() and (table["chunks_missing"] == 0).all()
    assert (table["worker_params"].map(sum) == 300).all()
    assert (table["duplicates"] == 0).all()
    assert table["params_per_second"].gt(0).all()
    assert table["efficiency"].between(0.05, 1.05).all()
    for row in table.itertuples():
        spec = RunSpec(
            row.run_id, 300, row.chunk_size, row.mode, row.workers, plan=row.plan
        )
        assert row.chunks == len(plan_chunks(spec))
        assert not RunQueue(runner.client, row.run_id).exists()


def test_a_sweep_records_plan_and_cost_model_in_each_run_meta(
    runner: LocalRunner,
) -> None:
    grid = experiments.SweepGrid(
        total_params=200,
        work_ms=0.5,
        chunk_sizes=(20,),
        workers=(2,),
        plans=("guided", "adaptive"),
        cost_models=(STRAGGLERS,),
    )

    table = experiments.run_sweep(grid, runner, progress=False, keep_runs=True)

    for row in table.itertuples():
        meta = RunQueue(runner.client, row.run_id).meta()
        assert meta.spec.plan == row.plan
        assert meta.spec.cost_model == STRAGGLERS
        assert meta.raw["plan"] == row.plan
        assert json.loads(row.cost_spec) == STRAGGLERS and row.cost_seed == 3
        RunQueue(runner.client, row.run_id).delete()
