"""Charts: each returns a titled Figure with the right axes, units and series."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from ttglib import charts
from ttglib.errors import UsageError
from ttglib.status import QueueSample


def only_axes(figure: Figure) -> Axes:
    assert isinstance(figure, Figure)
    (axes,) = figure.axes
    return axes


def legend_texts(axes: Axes) -> list[str]:
    return [text.get_text() for text in axes.get_legend().get_texts()]


def test_throughput_chart_has_log_chunk_axis_and_one_line_per_worker_count(
    chunk_sweep: pd.DataFrame,
) -> None:
    axes = only_axes(charts.throughput_chart(chunk_sweep))

    assert axes.get_xscale() == "log"
    assert [t.get_text() for t in axes.get_xticklabels()] == ["1", "10", "100", "1,000"]
    assert "chunk size" in axes.get_xlabel()
    assert "parameters / s" in axes.get_ylabel()
    assert "10,000 parameters at 1 ms" in axes.get_title()
    assert legend_texts(axes) == ["1", "2", "4"]
    bands = [c for c in axes.collections if isinstance(c, PolyCollection)]
    assert len(axes.lines) == 3 and len(bands) == 3


def test_throughput_lines_are_the_means_over_repeats(chunk_sweep: pd.DataFrame) -> None:
    axes = only_axes(charts.throughput_chart(chunk_sweep))
    expected = (
        chunk_sweep[chunk_sweep["workers"] == 4]
        .groupby("chunk_size")["params_per_second"]
        .mean()
    )

    line = axes.lines[2]

    assert list(line.get_xdata()) == list(expected.index)
    assert list(line.get_ydata()) == pytest.approx(list(expected.values))


def test_efficiency_chart_shows_percent_and_the_ideal_line(
    chunk_sweep: pd.DataFrame,
) -> None:
    axes = only_axes(charts.efficiency_chart(chunk_sweep))

    assert axes.get_xscale() == "log"
    assert "(%)" in axes.get_ylabel()
    assert "ideal" in legend_texts(axes)
    ideal = [line for line in axes.lines if line.get_label() == "ideal"]
    assert list(ideal[0].get_ydata()) == [100.0, 100.0]
    assert max(max(line.get_ydata()) for line in axes.lines) <= 100.0


def test_sweep_charts_refuse_a_table_that_mixes_plans(
    chunk_sweep: pd.DataFrame,
) -> None:
    mixed = pd.concat([chunk_sweep, chunk_sweep.assign(plan="guided")])

    with pytest.raises(UsageError, match="one plan at a time"):
        charts.throughput_chart(mixed)


def test_plans_chart_groups_bars_by_cost_model_with_the_ideal(
    plans_sweep: pd.DataFrame,
) -> None:
    axes = only_axes(charts.plans_chart(plans_sweep))

    assert [t.get_text() for t in axes.get_xticklabels()] == ["constant", "stragglers"]
    assert axes.get_ylabel() == "wall time (s)"
    assert axes.get_title() == "Wall time of each plan (4 workers, chunks of 100)"
    assert legend_texts(axes) == [
        "ideal (work / workers)",
        "static",
        "fixed",
        "guided",
        "adaptive",
    ]
    assert len(axes.containers) >= 4
    bars = [b for c in axes.containers if hasattr(c, "patches") for b in c.patches]
    heights = {round(b.get_height(), 6) for b in bars}
    static = plans_sweep[
        (plans_sweep["plan"] == "static") & (plans_sweep["cost_model"] == "stragglers")
    ]["wall_seconds"].mean()
    assert round(static, 6) in heights


def test_plans_chart_can_show_efficiency(plans_sweep: pd.DataFrame) -> None:
    axes = only_axes(charts.plans_chart(plans_sweep, metric="efficiency"))

    assert axes.get_ylabel() == "parallel efficiency (%)"
    assert axes.get_title().startswith("Parallel efficiency of each plan")
    assert "ideal" in legend_texts(axes)
    with pytest.raises(UsageError, match="metric"):
        charts.plans_chart(plans_sweep, metric="colour")


def test_timeline_has_a_row_per_worker_and_marks_recovered_and_retried_chunks(
    run_results: pd.DataFrame,
) -> None:
    killed_at = float(run_results["started_at"].min()) + 0.25

    axes = only_axes(
        charts.timeline_chart(run_results, events={"worker-0 killed": killed_at})
    )

    assert [t.get_text() for t in axes.get_yticklabels()] == ["worker-0", "worker-1"]
    assert "(s)" in axes.get_xlabel()
    bars = axes.collections
    assert sum(len(c.get_paths()) for c in bars) == len(run_results)
    hatches = {c.get_hatch() for c in bars}
    assert {"xx", "//"} <= hatches
    assert legend_texts(axes) == ["first try", "retried", "recovered (lease expired)"]
    marks = [line for line in axes.lines if list(line.get_xdata()) == [0.25, 0.25]]
    assert len(marks) == 1
    assert any(t.get_text().strip() == "worker-0 killed" for t in axes.texts)


def test_share_chart_compares_each_worker_with_the_equal_share() -> None:
    distribution = [
        {"worker_id": "worker-0", "chunks": 30, "params": 3000, "share": 0.3},
        {"worker_id": "worker-1", "chunks": 70, "params": 7000, "share": 0.7},
    ]

    axes = only_axes(charts.share_chart({"worker_distribution": distribution}))

    assert [t.get_text() for t in axes.get_xticklabels()] == ["worker-0", "worker-1"]
    assert "(%)" in axes.get_ylabel()
    assert legend_texts(axes) == ["equal share", "chunks", "parameters"]
    heights = [round(p.get_height(), 6) for p in axes.patches]
    assert heights == [30.0, 70.0, 30.0, 70.0]


def test_queue_chart_draws_queued_in_flight_and_done_over_time() -> None:
    samples = [
        QueueSample(
            t=0.1 * i,
            queued=10 - i,
            in_flight=min(i, 2),
            done=i,
            dead=0,
            params_done=100 * i,
        )
        for i in range(11)
    ]

    axes = only_axes(charts.queue_chart(samples))

    assert legend_texts(axes) == ["queued", "in flight", "done"]
    assert axes.get_xlabel() == "time since the run started (s)"
    assert axes.get_ylabel() == "tasks"
    assert list(axes.lines[0].get_ydata()) == [10 - i for i in range(11)]


def test_queue_chart_adds_dead_parameters_when_there_are_some() -> None:
    frame = pd.DataFrame(
        {
            "t": [0.0, 1.0],
            "queued": [2, 0],
            "in_flight": [1, 0],
            "done": [0, 3],
            "dead": [0, 4],
            "params_done": [0, 30],
        }
    )

    axes = only_axes(charts.queue_chart(frame))

    assert legend_texts(axes)[-1] == "dead parameters"


def test_save_writes_a_png(chunk_sweep: pd.DataFrame, tmp_path: Path) -> None:
    target = charts.save(charts.throughput_chart(chunk_sweep), tmp_path / "c" / "t.png")

    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
