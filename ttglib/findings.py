"""What a sweep's table says: summaries, and sentences computed from them.

Notebooks print these sentences instead of writing conclusions by hand, so a
conclusion changes when its measurements do. The table is the one
:func:`ttglib.experiments.run_sweep` returns; two means closer than
:data:`TIE` are called a tie.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from ttglib.errors import UsageError
from ttglib.report import Report

# Two means closer than this, relative to the larger, count as a tie in sentences.
TIE = 0.05


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
