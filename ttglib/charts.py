"""Charts of runs and sweeps: each function returns a titled matplotlib Figure.

The sweep charts read the tidy table of :func:`ttglib.experiments.run_sweep`
(one row per run); the run charts read one run's results
(:func:`ttglib.results.load_results`), its report, or its queue samples.
Figures are built with :class:`matplotlib.figure.Figure`, never through
``pyplot``, so no global figure list grows while a sweep draws dozens of
them, and any backend (or none) works. A notebook shows a figure when it is
a cell's value; :func:`save` writes one to a file.

========================  ============================================  ========
function                  what it shows                                 reads
========================  ============================================  ========
:func:`throughput_chart`  parameters per second against chunk size      sweep
:func:`efficiency_chart`  parallel efficiency against chunk size        sweep
:func:`plans_chart`       wall time of each plan under each cost model  sweep
:func:`timeline_chart`    chunks per worker over time (Gantt)           results
:func:`share_chart`       each worker's share of chunks and parameters  report
:func:`queue_chart`       queued, in-flight and done tasks over time    samples
========================  ============================================  ========
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from ttglib.errors import UsageError
from ttglib.findings import require_single, summarize
from ttglib.report import natural

try:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
except ImportError as error:  # pragma: no cover - depends on the installation
    raise ImportError(
        f"charts need pandas and matplotlib ({error.name} is missing): "
        "pip install 'ttglib[analysis]'"
    ) from error

WIDE = (8.0, 4.5)
TALL = (8.0, 5.5)
SPREAD_ALPHA = 0.2
OUTSIDE_RIGHT: dict[str, Any] = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)}

# Timeline colours: a chunk done on its first try, a retried one, a recovered one.
FIRST_TRY = "#4C72B0"
RETRIED = "#DD8452"
RECOVERED = "#C44E52"


def throughput_chart(table: pd.DataFrame, title: str | None = None) -> Figure:
    """Throughput against chunk size (log x), one line per worker count.

    Each line joins the mean over repeats; the shaded band spans the lowest
    to the highest repeat.

    Args:
        table: a sweep table holding one plan and one cost model.
        title: the figure's title; a default names the work per parameter.
    """
    figure, axes = _figure(WIDE)
    _lines_by_workers(axes, table, "params_per_second")
    axes.set_ylabel("throughput (parameters / s)")
    axes.set_ylim(bottom=0)
    axes.set_title(title or f"Throughput against chunk size{_work_note(table)}")
    axes.legend(title="workers", loc="best")
    return figure


def efficiency_chart(table: pd.DataFrame, title: str | None = None) -> Figure:
    """Parallel efficiency against chunk size (log x), with the ideal line at 100 %.

    Efficiency is the report's: simulated work / (workers x wall time).

    Args:
        table: a sweep table holding one plan and one cost model.
        title: the figure's title.
    """
    figure, axes = _figure(WIDE)
    _lines_by_workers(axes, table, "efficiency", scale=100.0)
    axes.axhline(100.0, color="black", linestyle="--", linewidth=1, label="ideal")
    axes.set_ylabel("parallel efficiency (%)")
    axes.set_ylim(0, 110)
    axes.set_title(
        title or f"Parallel efficiency against chunk size{_work_note(table)}"
    )
    axes.legend(title="workers", loc="best")
    return figure


def plans_chart(
    table: pd.DataFrame, metric: str = "wall_seconds", title: str | None = None
) -> Figure:
    """Each plan under each cost model: grouped bars with the spread over repeats.

    Bars show the mean over repeats, whiskers the lowest and highest repeat.
    For wall time a black tick marks the ideal: the simulated work divided
    evenly over the workers; for efficiency a dashed line marks 100 %.

    Args:
        table: a sweep table holding one worker count and one chunk size.
        metric: ``wall_seconds``, ``params_per_second`` or ``efficiency``.
        title: the figure's title.
    """
    labels = {
        "wall_seconds": "wall time (s)",
        "params_per_second": "throughput (parameters / s)",
        "efficiency": "parallel efficiency (%)",
    }
    if metric not in labels:
        raise UsageError(f"metric must be one of {', '.join(labels)}, not {metric!r}")
    require_single(table, ["workers", "chunk_size"])
    scale = 100.0 if metric == "efficiency" else 1.0

    stats = _spread(table, ["cost_model", "plan"], metric, scale)
    models = list(dict.fromkeys(table["cost_model"]))
    plans = list(dict.fromkeys(table["plan"]))
    width = 0.8 / len(plans)

    figure, axes = _figure(WIDE)
    for index, plan in enumerate(plans):
        rows = stats[stats["plan"] == plan].set_index("cost_model").reindex(models)
        positions = [
            m + (index - (len(plans) - 1) / 2) * width for m in range(len(models))
        ]
        errors = [rows["mean"] - rows["low"], rows["high"] - rows["mean"]]
        axes.bar(positions, rows["mean"], width, yerr=errors, capsize=3, label=plan)
    if metric == "wall_seconds":
        _ideal_ticks(axes, table, models)
    if metric == "efficiency":
        axes.axhline(100.0, color="black", linestyle="--", linewidth=1, label="ideal")

    axes.set_xticks(range(len(models)), models, rotation=15, ha="right")
    axes.set_xlabel("cost model")
    axes.set_ylabel(labels[metric])
    workers, chunk = int(table["workers"].iloc[0]), int(table["chunk_size"].iloc[0])
    what = labels[metric].split(" (")[0]
    axes.set_title(
        title
        or f"{what.capitalize()} of each plan ({workers} workers, chunks of {chunk})"
    )
    axes.legend(title="plan", **OUTSIDE_RIGHT)
    return figure


def timeline_chart(
    results: pd.DataFrame,
    events: Mapping[str, float] | None = None,
    spans: Mapping[str, tuple[float, float]] | None = None,
    title: str | None = None,
) -> Figure:
    """A Gantt chart of a run: one row per worker, one bar per chunk.

    Chunks done on the first try are blue; retried chunks (attempt above 1)
    orange; chunks recovered from another worker's expired lease red and
    hatched. Time runs from the first chunk's start.

    Args:
        results: one run's results, as :func:`ttglib.results.load_results`
            gives them.
        events: labelled moments to mark with a vertical line, as unix
            seconds (e.g. ``{"worker-0 killed": t}``).
        spans: labelled intervals to shade, as pairs of unix seconds (e.g.
            the lease of a killed worker's tasks).
        title: the figure's title.
    """
    if results.empty:
        raise UsageError("a timeline needs at least one result")
    origin = float(results["started_at"].min())
    workers = sorted(set(results["worker_id"]), key=natural)
    rows = {worker: index for index, worker in enumerate(workers)}

    figure, axes = _figure((9.0, 1.5 + 0.5 * len(workers)))
    for kind, colour, hatch in (
        ("first try", FIRST_TRY, None),
        ("retried", RETRIED, "//"),
        ("recovered", RECOVERED, "xx"),
    ):
        chosen = results[_kind_of(results) == kind]
        for worker, group in chosen.groupby("worker_id"):
            bars = [
                (start - origin, duration)
                for start, duration in zip(
                    group["started_at"], group["duration_seconds"], strict=True
                )
            ]
            axes.broken_barh(
                bars,
                (rows[str(worker)] - 0.4, 0.8),
                facecolors=colour,
                edgecolor="white",
                linewidth=0.5,
                hatch=hatch,
            )
    for label, (low, high) in (spans or {}).items():
        axes.axvspan(low - origin, high - origin, color="grey", alpha=0.15, label=label)
    for label, moment in (events or {}).items():
        axes.axvline(moment - origin, color="black", linestyle=":", linewidth=1.5)
        axes.text(
            moment - origin,
            0.98,
            f" {label}",
            transform=axes.get_xaxis_transform(),
            va="top",
            fontsize="small",
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
        )

    axes.set_yticks(range(len(workers)), workers)
    axes.set_ylim(-0.6, len(workers) - 0.4)
    axes.invert_yaxis()
    axes.set_xlabel("time since the first chunk started (s)")
    axes.set_ylabel("worker")
    axes.set_title(title or f"Chunks per worker over time ({len(results)} chunks)")
    axes.legend(
        handles=[
            *[
                Patch(facecolor="grey", alpha=0.15, label=label)
                for label in spans or {}
            ],
            Patch(facecolor=FIRST_TRY, label="first try"),
            Patch(facecolor=RETRIED, hatch="//", label="retried"),
            Patch(facecolor=RECOVERED, hatch="xx", label="recovered (lease expired)"),
        ],
        **OUTSIDE_RIGHT,
    )
    return figure


def share_chart(distribution: Any, title: str | None = None) -> Figure:
    """Each worker's share of chunks and of parameters, beside the equal share.

    Args:
        distribution: a :class:`~ttglib.report.Report`, its ``to_dict()``, or
            its ``worker_distribution`` list (objects or mappings with
            ``worker_id``, ``chunks`` and ``params``).
        title: the figure's title.
    """
    shares = _share_frame(distribution)
    positions = range(len(shares))
    chunk_share = 100 * shares["chunks"] / shares["chunks"].sum()
    param_share = 100 * shares["params"] / shares["params"].sum()

    figure, axes = _figure(WIDE)
    axes.bar([p - 0.2 for p in positions], chunk_share, 0.4, label="chunks")
    axes.bar([p + 0.2 for p in positions], param_share, 0.4, label="parameters")
    axes.axhline(
        100 / len(shares),
        color="black",
        linestyle="--",
        linewidth=1,
        label="equal share",
    )
    axes.set_xticks(list(positions), list(shares["worker_id"]))
    axes.set_xlabel("worker")
    axes.set_ylabel("share of the run (%)")
    axes.set_title(title or "Each worker's share of chunks and parameters")
    axes.legend(loc="best")
    return figure


def queue_chart(samples: Any, title: str | None = None) -> Figure:
    """Queued, in-flight and done tasks over time, from a run's live samples.

    Args:
        samples: a list of :class:`~ttglib.status.QueueSample`, or a
            DataFrame with the same columns (``t``, ``queued``, ``in_flight``,
            ``done``, ``dead``).
        title: the figure's title.
    """
    frame = samples_frame(samples)
    if frame.empty:
        raise UsageError("a queue chart needs at least one sample")

    figure, axes = _figure(WIDE)
    axes.plot(frame["t"], frame["queued"], label="queued")
    axes.plot(frame["t"], frame["in_flight"], label="in flight")
    axes.plot(frame["t"], frame["done"], label="done")
    if frame["dead"].any():
        axes.plot(frame["t"], frame["dead"], linestyle="--", label="dead parameters")
    axes.set_xlabel("time since the run started (s)")
    axes.set_ylabel("tasks")
    axes.set_ylim(bottom=0)
    axes.set_title(title or "Queue depth and in-flight tasks over time")
    axes.legend(loc="best")
    return figure


def samples_frame(samples: Any) -> pd.DataFrame:
    """Queue samples as a DataFrame (a DataFrame passes through unchanged)."""
    if isinstance(samples, pd.DataFrame):
        return samples
    columns = ["t", "queued", "in_flight", "done", "dead", "params_done"]
    return pd.DataFrame([asdict(sample) for sample in samples], columns=columns)


def save(figure: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write ``figure`` to ``path`` (format from the suffix) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=dpi)
    return target


# --- helpers -----------------------------------------------------------------


def _figure(size: tuple[float, float]) -> tuple[Figure, Axes]:
    figure = Figure(figsize=size, layout="constrained")
    return figure, figure.add_subplot()


def _lines_by_workers(
    axes: Axes, table: pd.DataFrame, metric: str, scale: float = 1.0
) -> None:
    """Mean line and min-max band of ``metric`` per worker count, log x."""
    require_single(table, ["plan", "cost_model"])
    stats = _spread(table, ["workers", "chunk_size"], metric, scale)
    for workers, group in stats.groupby("workers"):
        group = group.sort_values("chunk_size")
        (line,) = axes.plot(
            group["chunk_size"], group["mean"], marker="o", label=str(workers)
        )
        axes.fill_between(
            group["chunk_size"],
            group["low"],
            group["high"],
            color=line.get_color(),
            alpha=SPREAD_ALPHA,
            linewidth=0,
        )
    axes.set_xscale("log")
    sizes = sorted({int(size) for size in stats["chunk_size"]})
    axes.set_xticks(sizes, [f"{size:,}" for size in sizes])
    axes.minorticks_off()
    axes.set_xlabel("chunk size (parameters per chunk, log scale)")
    axes.grid(True, which="major", alpha=0.3)


def _spread(
    table: pd.DataFrame, keys: list[str], metric: str, scale: float
) -> pd.DataFrame:
    """Mean, lowest and highest ``metric`` over the repeats of each group."""
    stats = summarize(table, by=keys)
    return pd.DataFrame(
        {
            **{key: stats[key] for key in keys},
            "mean": stats[f"{metric}_mean"] * scale,
            "low": stats[f"{metric}_min"] * scale,
            "high": stats[f"{metric}_max"] * scale,
        }
    )


def _ideal_ticks(axes: Axes, table: pd.DataFrame, models: Sequence[str]) -> None:
    ideal = (
        (table["ideal_seconds"] / table["workers"]).groupby(table["cost_model"]).mean()
    )
    for index, model in enumerate(models):
        axes.hlines(
            ideal[model],
            index - 0.45,
            index + 0.45,
            colors="black",
            linewidth=1.5,
            label="ideal (work / workers)" if index == 0 else "_nolegend_",
        )


def _work_note(table: pd.DataFrame) -> str:
    """`` (10,000 parameters at 1 ms)`` when the table holds one such setting."""
    if (
        table.empty
        or table["total_params"].nunique() != 1
        or table["work_ms"].nunique() != 1
    ):
        return ""
    total, work = int(table["total_params"].iloc[0]), float(table["work_ms"].iloc[0])
    return f" ({total:,} parameters at {work:g} ms)"


def _kind_of(results: pd.DataFrame) -> pd.Series:
    """``first try``, ``retried`` or ``recovered`` for each chunk."""
    kind = pd.Series("first try", index=results.index)
    kind[results["attempt"] > 1] = "retried"
    kind[results["recovered"].astype(bool)] = "recovered"
    return kind


def _as_mapping(row: Any) -> dict[str, Any]:
    if is_dataclass(row) and not isinstance(row, type):
        return asdict(row)
    return dict(row)


def _share_frame(distribution: Any) -> pd.DataFrame:
    if is_dataclass(distribution) and hasattr(distribution, "worker_distribution"):
        distribution = distribution.worker_distribution
    elif isinstance(distribution, Mapping):
        distribution = distribution["worker_distribution"]
    rows = [_as_mapping(row) for row in distribution]
    if not rows:
        raise UsageError("a share chart needs at least one worker")
    return pd.DataFrame(rows)
