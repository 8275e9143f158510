"""Sweeps: many runs over a grid of configurations, and the tidy table they give.

A :class:`SweepGrid` names the values to cross (chunk sizes, worker counts,
plans, cost models) and how many times to repeat each configuration.
:func:`run_sweep` runs every configuration as its own run through a
:class:`~ttglib.local.LocalRunner` and returns one row per run:

=========================  ===================================================
column                     meaning
=========================  ===================================================
``sweep_id``, ``run_id``   the sweep, and the run of this row
``plan``, ``mode``         how the range was cut; ``static`` plan = static mode
``chunk_size``             parameters per chunk (the minimum for ``guided``)
``workers``                local worker processes
``cost_model``             label of the cost model, e.g. ``lognormal(sigma=2)``
``cost_name``, ``cost_seed``, ``cost_spec``  the model's name, seed and JSON spec
``repeat``                 0, 1, ... for repeats of one configuration
``total_params``, ``work_ms``  the range and the declared work per parameter
``wall_seconds``           first chunk's start to last chunk's finish
``ideal_seconds``          simulated work of all parameters, in seconds
``params_per_second``      throughput over the wall time
``efficiency``             ideal / (workers x wall), as in the report
``bound``                  best efficiency the chunk count allows
``chunks``                 chunks with a result
``worker_chunks``, ``worker_params``  per-worker chunks and parameters (lists)
``max_share``              the busiest worker's share of parameters
``recoveries``, ``retries``  expired leases taken over; failed attempts
``duplicates``             results suppressed because the chunk was done
``chunks_missing``         chunks with neither a result nor a dead letter
``verified``               nothing missing and nothing counted twice
=========================  ===================================================

:func:`save_table` and :func:`load_table` keep that table as CSV or Parquet,
so a long sweep can be charted later. The sentences of
:func:`describe_best_chunk_size` and :func:`describe_plans` are computed from
the table's numbers, never written by hand, so a notebook's conclusion
changes when its measurements do; two means closer than :data:`TIE` are
called a tie.
"""

from __future__ import annotations

import atexit
import datetime as dt
import html
import itertools
import json
import logging
import os
import platform
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ttglib import __version__
from ttglib.config import Mode, RunSpec, WorkerSettings
from ttglib.costs import cost_model_from_spec, describe_cost
from ttglib.errors import UsageError, WorkerFailedError
from ttglib.notebook import ENVIRONMENT_MIME
from ttglib.report import Report

try:
    import pandas as pd
except ImportError as error:  # pragma: no cover - depends on the installation
    raise ImportError(
        "sweep tables need pandas: pip install 'ttglib[analysis]'"
    ) from error

if TYPE_CHECKING:
    from ttglib.local import LocalRunner

logger = logging.getLogger(__name__)

PLAN_NAMES = ("static", "fixed", "guided", "adaptive")
LIST_COLUMNS = ("worker_chunks", "worker_params")

# Two means closer than this, relative to the larger, count as a tie in sentences.
TIE = 0.05


@dataclass(frozen=True)
class Configuration:
    """One point of a sweep grid: how one run is cut and worked.

    Attributes:
        plan: ``static`` (static mode) or a queue-mode plan (``fixed``,
            ``guided``, ``adaptive``).
        chunk_size: parameters per chunk (the smallest chunk for ``guided``).
        workers: local worker processes.
        cost_model: the cost model spec, None for constant ``work_ms``.
        repeat: which repeat of this configuration, from 0.
    """

    plan: str
    chunk_size: int
    workers: int
    cost_model: Mapping[str, Any] | None = None
    repeat: int = 0

    @property
    def mode(self) -> Mode:
        """``static`` for the static plan, ``queue`` for every other."""
        return "static" if self.plan == "static" else "queue"

    def spec(
        self, run_id: str, total_params: int, work_ms: float, task: str
    ) -> RunSpec:
        """The run spec of this configuration."""
        return RunSpec(
            run_id=run_id,
            total_params=total_params,
            chunk_size=self.chunk_size,
            mode=self.mode,
            workers=self.workers,
            work_ms=work_ms,
            task=task,
            plan=self.plan,
            cost_model=dict(self.cost_model) if self.cost_model else None,
        )


@dataclass(frozen=True)
class SweepGrid:
    """The configurations of a sweep: every combination, repeated.

    Attributes:
        total_params: parameters of each run.
        work_ms: simulated work per parameter (the cost models' default mean).
        chunk_sizes: chunk sizes to try.
        workers: worker counts to try.
        plans: plans to try (:data:`PLAN_NAMES`).
        cost_models: cost model specs to try; None is constant ``work_ms``.
        repeats: runs of each configuration.
        task: the task function of every run.
    """

    total_params: int = 10_000
    work_ms: float = 1.0
    chunk_sizes: Sequence[int] = (1, 10, 100, 1000)
    workers: Sequence[int] = (1, 2, 4, 8)
    plans: Sequence[str] = ("fixed",)
    cost_models: Sequence[Mapping[str, Any] | None] = field(default=(None,))
    repeats: int = 1
    task: str = "reference"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.plans) - set(PLAN_NAMES))
        if unknown:
            raise UsageError(
                f"unknown plan {', '.join(unknown)}; known: {', '.join(PLAN_NAMES)}"
            )
        if self.repeats < 1:
            raise UsageError(f"repeats must be 1 or more, not {self.repeats}")
        if not (self.chunk_sizes and self.workers and self.plans and self.cost_models):
            raise UsageError("a sweep needs at least one value on every axis")
        for model in self.cost_models:
            cost_model_from_spec(model, self.work_ms)

    def configurations(self) -> list[Configuration]:
        """Every configuration, repeats outermost.

        Running one full round before the next repeat spreads slow drift of
        the machine (other load, thermal limits) over every configuration
        instead of piling it on the last ones.
        """
        axes = itertools.product(
            self.cost_models, self.plans, self.workers, self.chunk_sizes
        )
        points = list(axes)
        return [
            Configuration(plan, chunk, workers, model, repeat)
            for repeat in range(self.repeats)
            for model, plan, workers, chunk in points
        ]


def start_runner(redis_url: str | None = None) -> LocalRunner:
    """Start a :class:`~ttglib.local.LocalRunner` that closes itself at exit.

    For notebooks, whose runner lives across cells: the embedded
    ``redis-server`` (or the connection to ``redis_url``) is closed by
    :meth:`~ttglib.local.LocalRunner.close`, or at the latest when the kernel
    exits, so a notebook that fails half-way leaves no server behind.

    Args:
        redis_url: an existing Redis; None starts an embedded ``redis-server``.
    """
    from ttglib.config import RedisSettings
    from ttglib.local import LocalRunner

    settings = RedisSettings(url=redis_url) if redis_url else None
    runner = LocalRunner(settings).start()
    atexit.register(runner.close)
    return runner


def worker_settings(spec: RunSpec, **overrides: Any) -> WorkerSettings:
    """Worker settings that match ``spec``: its run id, task and work per parameter.

    The worker builds its cost model from the run's meta with its own
    ``work_ms`` as the default mean, so the two must agree for the report's
    ideal time to be the work the workers really did.

    Args:
        overrides: other :class:`~ttglib.config.WorkerSettings` fields
            (``lease_seconds``, ``idle_timeout_seconds``, ...).
    """
    matching = WorkerSettings(run_id=spec.run_id, task=spec.task, work_ms=spec.work_ms)
    return replace(matching, **overrides)


def new_sweep_id() -> str:
    """A fresh sweep id, e.g. ``sweep-20250101-120000-3fa2``; runs are named after it."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"sweep-{stamp}-{secrets.token_hex(2)}"


def run_sweep(
    grid: SweepGrid,
    runner: LocalRunner | None = None,
    *,
    options: Mapping[str, Any] | None = None,
    progress: bool = True,
    keep_runs: bool = False,
    sweep_id: str | None = None,
) -> pd.DataFrame:
    """Run every configuration of ``grid`` and return the tidy table.

    Args:
        grid: what to run.
        runner: a started :class:`~ttglib.local.LocalRunner`; None starts
            one on an embedded ``redis-server`` for the sweep.
        options: worker settings for every run, as
            :class:`~ttglib.config.WorkerSettings` fields (``lease_seconds``,
            ...); run id, task and work per parameter come from each run.
        progress: show a progress bar over the runs (``tqdm.auto``: a widget
            in JupyterLab, text elsewhere).
        keep_runs: keep each run's keys in Redis; by default they are
            deleted once the run's row is taken, so a big sweep does not
            fill Redis.
        sweep_id: the sweep's id, the stem of its run ids; a fresh one when
            None.

    Raises:
        WorkerFailedError: a worker did not start, or exited with an error;
            the sweep stops there, as its figures would mislead.
    """
    if runner is None:
        from ttglib.local import LocalRunner

        with LocalRunner() as own_runner:
            return run_sweep(
                grid,
                own_runner,
                options=options,
                progress=progress,
                keep_runs=keep_runs,
                sweep_id=sweep_id,
            )

    from tqdm.auto import tqdm

    from ttglib.queue import RunQueue

    sweep_id = sweep_id or new_sweep_id()
    configurations = grid.configurations()
    rows = []
    with tqdm(
        total=len(configurations), desc=sweep_id, unit="run", disable=not progress
    ) as bar:
        for index, config in enumerate(configurations):
            run_id = f"{sweep_id}-{index:04d}"
            report = run_configuration(runner, grid, config, run_id, options)
            rows.append(sweep_row(config, report, sweep_id))
            if not keep_runs:
                RunQueue(runner.client, run_id).delete()
            bar.set_postfix_str(
                f"{config.plan} W={config.workers} chunk={config.chunk_size}: "
                f"{report.params_per_second:,.0f} params/s"
            )
            bar.update()

    logger.info("sweep=%s runs=%d", sweep_id, len(rows))
    return table_from_rows(rows)


def run_configuration(
    runner: LocalRunner,
    grid: SweepGrid,
    config: Configuration,
    run_id: str,
    options: Mapping[str, Any] | None = None,
) -> Report:
    """Run one configuration of a sweep as run ``run_id`` and return its report.

    Raises:
        WorkerFailedError: a worker did not start, or exited with an error.
    """
    spec = config.spec(run_id, grid.total_params, grid.work_ms, grid.task)
    outcome = runner.run(spec, worker_settings(spec, **(options or {})))
    if outcome.failed_workers:
        codes = [outcome.exit_codes[index] for index in outcome.failed_workers]
        raise WorkerFailedError(
            f"run {run_id}: workers {outcome.failed_workers} exited with {codes}"
        )
    return outcome.report


def sweep_row(config: Configuration, report: Report, sweep_id: str) -> dict[str, Any]:
    """One row of the sweep table, from a configuration and its run's report."""
    shares = report.worker_distribution
    params = report.params_processed
    check = report.verification
    model = dict(config.cost_model) if config.cost_model else None
    return {
        "sweep_id": sweep_id,
        "run_id": report.run_id,
        "plan": config.plan,
        "mode": config.mode,
        "chunk_size": config.chunk_size,
        "workers": config.workers,
        "cost_model": describe_cost(model),
        "cost_name": (model or {}).get("name", "constant"),
        "cost_seed": int((model or {}).get("seed", 0)),
        "cost_spec": json.dumps(model, sort_keys=True),
        "repeat": config.repeat,
        "total_params": report.total_params,
        "work_ms": report.work_ms,
        "wall_seconds": report.wall_seconds,
        "ideal_seconds": report.ideal_seconds,
        "params_per_second": report.params_per_second,
        "efficiency": report.efficiency
        if report.efficiency is not None
        else float("nan"),
        "bound": report.bound,
        "chunks": report.chunks_processed,
        "worker_chunks": [share.chunks for share in shares],
        "worker_params": [share.params for share in shares],
        "max_share": max((s.params for s in shares), default=0) / params
        if params
        else 0.0,
        "recoveries": check.recoveries,
        "retries": check.retries,
        "duplicates": check.duplicates_suppressed + check.duplicates_in_results,
        "chunks_missing": check.chunks_missing,
        "verified": check.ok,
    }


def table_from_rows(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The sweep table from its rows, with the list columns kept as lists."""
    return pd.DataFrame(list(rows))


# --- saving and loading ------------------------------------------------------


def save_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a sweep table to ``.csv`` or ``.parquet`` (by the suffix).

    CSV holds the per-worker lists as JSON text; :func:`load_table` turns
    them back into lists.

    Raises:
        UsageError: the suffix is neither ``.csv`` nor ``.parquet``.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = _table_format(target)
    if suffix == ".parquet":
        table.to_parquet(target, index=False)
        return target
    text = table.copy()
    for column in LIST_COLUMNS:
        if column in text:
            text[column] = [
                json.dumps([int(v) for v in value]) for value in text[column]
            ]
    text.to_csv(target, index=False)
    return target


def load_table(path: str | Path) -> pd.DataFrame:
    """Read a sweep table written by :func:`save_table`.

    Raises:
        UsageError: the suffix is neither ``.csv`` nor ``.parquet``.
        FileNotFoundError: no such file.
    """
    source = Path(path)
    parquet = _table_format(source) == ".parquet"
    # Only empty cells are missing: cost_spec holds the JSON text "null".
    table = (
        pd.read_parquet(source)
        if parquet
        else pd.read_csv(source, keep_default_na=False, na_values=[""])
    )
    for column in LIST_COLUMNS:
        if column in table:
            table[column] = [_as_int_list(value) for value in table[column]]
    return table


def _table_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise UsageError(
            f"a sweep table is saved as .csv or .parquet, not {path.name!r}"
        )
    return suffix


def _as_int_list(value: Any) -> list[int]:
    if isinstance(value, str):
        value = json.loads(value)
    return [int(item) for item in value]


# --- reading the table -------------------------------------------------------


def summarize(
    table: pd.DataFrame,
    by: Sequence[str] = ("cost_model", "plan", "workers", "chunk_size"),
) -> pd.DataFrame:
    """Mean, spread and count over repeats of throughput, efficiency and wall time.

    Returns:
        One row per group, columns ``<metric>_mean``, ``<metric>_std``,
        ``<metric>_min``, ``<metric>_max`` for ``params_per_second``,
        ``efficiency`` and ``wall_seconds``, and ``repeats``.
    """
    grouped = table.groupby(list(by), sort=True)
    parts = []
    for metric in ("params_per_second", "efficiency", "wall_seconds"):
        stats = grouped[metric].agg(["mean", "std", "min", "max"])
        stats.columns = [f"{metric}_{name}" for name in stats.columns]
        parts.append(stats)
    summary = pd.concat(parts, axis=1)
    summary["repeats"] = grouped.size()
    return summary.reset_index()


def require_single(table: pd.DataFrame, columns: Iterable[str]) -> None:
    """Refuse a table that mixes values of ``columns``.

    Raises:
        UsageError: a column holds more than one value (or the table is
            empty); filter the table first.
    """
    if table.empty:
        raise UsageError("the sweep table is empty")
    for column in columns:
        values = sorted({str(value) for value in table[column]})
        if len(values) > 1:
            raise UsageError(
                f"this takes one {column} at a time, the table has "
                f"{', '.join(values)}: filter it first"
            )


def run_ids(table: pd.DataFrame, **where: Any) -> list[str]:
    """The run ids of the rows whose columns equal ``where``.

    Example:
        >>> run_ids(table, plan="static", cost_model="constant")  # doctest: +SKIP
        ['sweep-20250101-120000-3fa2-0000']
    """
    chosen = table
    for column, value in where.items():
        chosen = chosen[chosen[column] == value]
    return [str(run_id) for run_id in chosen["run_id"]]


def best_chunk_sizes(table: pd.DataFrame) -> pd.DataFrame:
    """For each worker count, the chunk sizes ranked by mean throughput.

    Returns:
        One row per worker count: ``workers``; ``chunk_size``,
        ``params_per_second`` and ``efficiency`` (means over repeats) of the
        best chunk size; ``runner_up`` and ``runner_up_params_per_second`` for
        the second best; ``worst`` and ``worst_params_per_second`` for the
        slowest (the runner-up is -1 when only one chunk size was tried).
    """
    require_single(table, ["plan", "cost_model"])
    records = summarize(table, by=("workers", "chunk_size")).to_dict("records")
    rows = []
    for workers in sorted({int(record["workers"]) for record in records}):
        ranked = sorted(
            (r for r in records if int(r["workers"]) == workers),
            key=lambda r: -float(r["params_per_second_mean"]),
        )
        best, second, worst = ranked[0], ranked[1 % len(ranked)], ranked[-1]
        rows.append(
            {
                "workers": workers,
                "chunk_size": int(best["chunk_size"]),
                "params_per_second": float(best["params_per_second_mean"]),
                "efficiency": float(best["efficiency_mean"]),
                "runner_up": int(second["chunk_size"]) if len(ranked) > 1 else -1,
                "runner_up_params_per_second": float(second["params_per_second_mean"]),
                "worst": int(worst["chunk_size"]),
                "worst_params_per_second": float(worst["params_per_second_mean"]),
            }
        )
    return pd.DataFrame(rows)


def describe_best_chunk_size(table: pd.DataFrame) -> str:
    """A sentence, computed from the table, naming the best chunk size.

    Example:
        "Chunks of 100 parameters gave the highest throughput with 2, 4 and 8
        workers, and chunks of 1,000 with 1 worker. With 8 workers they
        reached 6,812 parameters/s at 85% efficiency, 4.1 times the 1,650
        parameters/s of chunks of 1; the next best, chunks of 1,000, was 12%
        slower."
    """
    best = best_chunk_sizes(table).to_dict("records")
    by_size: dict[int, list[int]] = {}
    for row in best:
        by_size.setdefault(int(row["chunk_size"]), []).append(int(row["workers"]))
    ordered = sorted(by_size.items(), key=lambda item: -len(item[1]))
    size, workers = ordered[0]
    clauses = [
        f"Chunks of {size:,} parameters gave the highest throughput "
        f"with {_workers_phrase(workers)}"
    ]
    clauses += [f"chunks of {s:,} with {_workers_phrase(w)}" for s, w in ordered[1:]]
    sentence = _listing(clauses) + "."
    close = [row for row in best[:-1] if _gap(row) < TIE]
    for size, rows in itertools.groupby(close, key=lambda row: int(row["runner_up"])):
        counts = [int(row["workers"]) for row in rows]
        sentence += (
            f" With {_workers_phrase(counts)}, chunks of {size:,} came within 5%."
        )

    # Figures for the largest worker count, where the choice matters most.
    top = best[-1]
    detail = (
        f" With {_workers_phrase([int(top['workers'])])}, chunks of "
        f"{int(top['chunk_size']):,} reached {top['params_per_second']:,.0f} "
        f"parameters/s at {top['efficiency']:.0%} efficiency"
    )
    if top["worst"] != top["chunk_size"]:
        ratio = top["params_per_second"] / top["worst_params_per_second"]
        detail += (
            f", {ratio:.1f} times the {top['worst_params_per_second']:,.0f} "
            f"parameters/s of chunks of {int(top['worst']):,}"
        )
    if top["runner_up"] >= 0:
        gap = _gap(top)
        verdict = "within 5%" if gap < TIE else f"{gap:.0%} slower"
        detail += f"; the next best, chunks of {int(top['runner_up']):,}, was {verdict}"
    return sentence + detail + "."


def plan_comparison(table: pd.DataFrame) -> pd.DataFrame:
    """Mean wall time of each plan under each cost model, against the best plan.

    Returns:
        One row per cost model and plan: ``wall_seconds`` (mean over
        repeats), ``efficiency`` (mean), ``best_plan`` (the fastest plan under
        that model) and ``slower_than_best`` (0.25 = took 25% longer).
    """
    require_single(table, ["workers", "chunk_size"])
    means = (
        table.groupby(["cost_model", "plan"], sort=False)
        .agg(wall_seconds=("wall_seconds", "mean"), efficiency=("efficiency", "mean"))
        .reset_index()
    )
    fastest = means.loc[
        means.groupby("cost_model", sort=False)["wall_seconds"].idxmin()
    ]
    best = fastest.set_index("cost_model")
    means["best_plan"] = means["cost_model"].map(best["plan"])
    means["slower_than_best"] = (
        means["wall_seconds"] / means["cost_model"].map(best["wall_seconds"]) - 1
    )
    return means


def describe_plans(table: pd.DataFrame, baseline: str = "static") -> str:
    """Sentences, computed from the table, on where ``baseline`` loses and by how much.

    One sentence per cost model compares the baseline plan with the fastest
    other plan; a closing sentence names the model where it lost most.
    """
    comparison = plan_comparison(table)
    sentences = []
    losses: list[tuple[float, str]] = []
    for model, group in comparison.groupby("cost_model", sort=False):
        mine = group[group["plan"] == baseline]
        others = group[group["plan"] != baseline]
        if mine.empty or others.empty:
            continue
        own = float(mine["wall_seconds"].iloc[0])
        rival = others.sort_values("wall_seconds").iloc[0]
        change = own / float(rival["wall_seconds"]) - 1
        losses.append((change, str(model)))
        if abs(change) < TIE:
            verdict = f"within 5% of {rival['plan']} ({rival['wall_seconds']:.2f} s)"
        elif change > 0:
            verdict = f"{change:.0%} longer than {rival['plan']} ({rival['wall_seconds']:.2f} s)"
        else:
            verdict = f"{-change:.0%} less than {rival['plan']} ({rival['wall_seconds']:.2f} s)"
        sentences.append(f"Under {model}, {baseline} took {own:.2f} s, {verdict}.")
    if not losses:
        raise UsageError(f"the table has no {baseline} runs beside other plans")
    worst_change, worst_model = max(losses)
    if worst_change >= TIE:
        sentences.append(
            f"{_capital(baseline)} loses most under {worst_model}: "
            f"{worst_change:.0%} more wall time than the best plan."
        )
    else:
        sentences.append(
            f"{_capital(baseline)} never lost more than 5% under these cost models."
        )
    return " ".join(sentences)


def describe_verification(report: Report) -> str:
    """A sentence on whether anything was lost or counted twice in a run."""
    check = report.verification
    lost = check.chunks_missing
    twice = check.duplicates_in_results
    head = (
        "Nothing lost and nothing counted twice"
        if lost == 0 and twice == 0
        else f"{lost} chunk(s) missing and {twice} counted twice"
    )
    return (
        f"{head}: {check.chunks_with_result:,} of {check.chunks_expected:,} chunks "
        f"have exactly one result, {report.params_processed:,} of "
        f"{report.total_params:,} parameters were counted, "
        f"{check.recoveries} expired lease(s) were taken over and "
        f"{check.duplicates_suppressed} late duplicate result(s) were suppressed."
    )


def _gap(row: Mapping[Any, Any]) -> float:
    """How much slower the runner-up was than the best (inf when there is none)."""
    if row["runner_up"] < 0:
        return float("inf")
    return float(1 - row["runner_up_params_per_second"] / row["params_per_second"])


def _listing(clauses: Sequence[str]) -> str:
    """``a``, ``a, and b``, ``a, b, and c``: clauses that hold their own "and"."""
    if len(clauses) == 1:
        return clauses[0]
    return ", ".join(clauses[:-1]) + ", and " + clauses[-1]


def _workers_phrase(workers: Sequence[int]) -> str:
    counts = [f"{count:,}" for count in sorted(workers)]
    noun = "worker" if counts == ["1"] else "workers"
    if len(counts) == 1:
        return f"{counts[0]} {noun}"
    return f"{', '.join(counts[:-1])} and {counts[-1]} {noun}"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


# --- what was measured, and where --------------------------------------------


@dataclass(frozen=True)
class Environment:
    """What a reader needs to judge a measurement: versions, machine, date.

    In a notebook the object shows as a table; its JSON form is kept in the
    output under :data:`ENVIRONMENT_MIME`, where the report export finds it.
    """

    configuration: Mapping[str, Any]
    ttglib_version: str
    redis_version: str
    python_version: str
    cores: int
    machine: str
    date: str

    def to_dict(self) -> dict[str, Any]:
        """The environment as a JSON-able mapping."""
        return {
            "configuration": dict(self.configuration),
            "ttglib_version": self.ttglib_version,
            "redis_version": self.redis_version,
            "python_version": self.python_version,
            "cores": self.cores,
            "machine": self.machine,
            "date": self.date,
        }

    def rows(self) -> list[tuple[str, str]]:
        """Label and value pairs, configuration first."""
        settings = [(str(k), json.dumps(v)) for k, v in self.configuration.items()]
        return [
            *settings,
            ("ttglib", self.ttglib_version),
            ("Redis", self.redis_version),
            ("Python", self.python_version),
            ("cores", str(self.cores)),
            ("machine", self.machine),
            ("date", self.date),
        ]

    def to_html(self) -> str:
        """A two-column HTML table."""
        cells = "".join(
            f"<tr><th style='text-align:left'>{html.escape(label)}</th>"
            f"<td style='text-align:left'><code>{html.escape(value)}</code></td></tr>"
            for label, value in self.rows()
        )
        return f"<table class='ttg-environment'>{cells}</table>"

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> dict[str, Any]:
        text = "\n".join(f"{label}: {value}" for label, value in self.rows())
        return {
            "text/plain": text,
            "text/html": self.to_html(),
            ENVIRONMENT_MIME: self.to_dict(),
        }


def environment(redis_version: str, configuration: Mapping[str, Any]) -> Environment:
    """Record the configuration, versions, core count and date of a measurement.

    Args:
        redis_version: the server's version, e.g. ``LocalRunner.redis_version``.
        configuration: the notebook's or sweep's parameters.
    """
    return Environment(
        configuration=dict(configuration),
        ttglib_version=__version__,
        redis_version=redis_version,
        python_version=platform.python_version(),
        cores=os.cpu_count() or 1,
        machine=f"{platform.system()} {platform.machine()}",
        date=dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds"),
    )
