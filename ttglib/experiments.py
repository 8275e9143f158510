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
so a long sweep can be charted later. What the table
says (summaries and the sentences notebooks print) is in
:mod:`ttglib.findings`.
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
