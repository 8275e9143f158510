"""The aggregation report of a run: figures, verification, text and JSON.

:func:`build_report` reads a run's meta, results, dead letters and counters
and folds them into a :class:`Report`. Its text form follows the original
system's "Results Aggregation Report", with a verification block added: how
many chunks were expected, how many have a result, how many died, how many
are missing, and how many duplicates were suppressed on the way.

Efficiency is ideal time / (workers x wall time), where ideal time is the
simulated work of every processed parameter and wall time runs from the first
chunk's start to the last chunk's finish. ``bound`` is the best efficiency the
chunk count allows: chunks / (W * ceil(chunks / W)).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from ttglib.costs import ConstantCost, cost_model_from_spec
from ttglib.queue import RunQueue
from ttglib.results import iter_dead, iter_results

WIDTH = 70
DEAD_SHOWN = 10


@dataclass
class WorkerShare:
    """One worker's part of a run."""

    worker_id: str
    chunks: int
    params: int
    share: float


@dataclass
class Verification:
    """Whether every chunk was counted once."""

    chunks_expected: int
    chunks_with_result: int
    chunks_dead: int
    chunks_missing: int
    dead_params: int
    duplicates_suppressed: int
    duplicates_in_results: int
    recoveries: int
    retries: int

    @property
    def ok(self) -> bool:
        """Nothing missing and nothing counted twice."""
        return self.chunks_missing == 0 and self.duplicates_in_results == 0


@dataclass
class Report:
    """Every figure of a run's report; :meth:`to_dict` is the JSON form."""

    run_id: str
    mode: str
    plan: str
    task: str
    work_ms: float
    workers: int
    total_params: int
    chunk_size: int
    params_processed: int
    chunks_processed: int
    grand_sum: float
    global_min: float | None
    global_max: float | None
    overall_average: float | None
    wall_seconds: float
    cpu_seconds: float
    params_per_second: float
    cpu_params_per_second: float
    parallelism_factor: float
    ideal_seconds: float
    efficiency: float | None
    bound: float
    worker_distribution: list[WorkerShare]
    verification: Verification
    dead: list[dict[str, str]] = field(default_factory=list)
    chunks: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-able mapping with snake_case keys."""
        data = asdict(self)
        if not self.chunks:
            data.pop("chunks")
        data["verification"]["ok"] = self.verification.ok
        return data

    def render_text(self, verbose: bool = False) -> str:
        """The boxed text report."""
        return render(self, verbose)


def build_report(client: redis.Redis, run_id: str, verbose: bool = False) -> Report:
    """Fold a run's results into a :class:`Report`.

    Args:
        verbose: keep every chunk's row in :attr:`Report.chunks`.

    Raises:
        RunNotFoundError: no such run.
    """
    queue = RunQueue(client, run_id)
    meta = queue.meta()
    spec = meta.spec
    fold = Fold()
    for fields in iter_results(client, run_id):
        fold.add(fields, verbose)
    dead = list(iter_dead(client, run_id))
    counters = queue.counters()

    workers = max(spec.workers, len(fold.per_worker))
    wall = max(fold.last_finish - fold.first_start, 0.0) if fold.unique else 0.0
    ideal = ideal_seconds(spec.cost_model, spec.work_ms, fold, spec.total_params)
    dead_chunks = {row["chunk_id"] for row in dead} - fold.unique
    dead_params = sum(int(row["end_param"]) - int(row["start_param"]) for row in dead)

    verification = Verification(
        chunks_expected=meta.total_chunks,
        chunks_with_result=len(fold.unique),
        chunks_dead=len(dead_chunks),
        chunks_missing=max(meta.total_chunks - len(fold.unique) - len(dead_chunks), 0),
        dead_params=dead_params,
        duplicates_suppressed=counters.get("duplicates", 0),
        duplicates_in_results=fold.repeats,
        recoveries=counters.get("recoveries", 0),
        retries=counters.get("retries", 0),
    )
    return Report(
        run_id=run_id,
        mode=spec.mode,
        plan=meta.raw.get("plan", spec.plan),
        task=spec.task,
        work_ms=spec.work_ms,
        workers=workers,
        total_params=spec.total_params,
        chunk_size=spec.chunk_size,
        params_processed=fold.params,
        chunks_processed=len(fold.unique),
        grand_sum=fold.total,
        global_min=fold.minimum,
        global_max=fold.maximum,
        overall_average=fold.total / fold.params if fold.params else None,
        wall_seconds=wall,
        cpu_seconds=fold.cpu,
        params_per_second=fold.params / wall if wall else 0.0,
        cpu_params_per_second=fold.params / fold.cpu if fold.cpu else 0.0,
        parallelism_factor=fold.cpu / wall if wall else 0.0,
        ideal_seconds=ideal,
        efficiency=ideal / (workers * wall) if wall and ideal else None,
        bound=efficiency_bound(meta.total_chunks, workers),
        worker_distribution=shares(fold),
        verification=verification,
        dead=dead[:DEAD_SHOWN] if not verbose else dead,
        chunks=fold.rows,
    )


class Fold:
    """Running totals over a run's results."""

    def __init__(self) -> None:
        self.unique: set[str] = set()
        self.repeats = 0
        self.params = 0
        self.total = 0.0
        self.minimum: float | None = None
        self.maximum: float | None = None
        self.first_start = math.inf
        self.last_finish = -math.inf
        self.cpu = 0.0
        self.per_worker: dict[str, list[int]] = {}
        self.rows: list[dict[str, str]] = []

    def add(self, fields: dict[str, str], keep_row: bool) -> None:
        """Fold one result in; a chunk seen before only counts as a repeat."""
        chunk_id = fields["chunk_id"]
        if chunk_id in self.unique:
            self.repeats += 1
            return
        self.unique.add(chunk_id)
        count = int(fields["count"])
        self.params += count
        self.total += float(fields["sum"])
        if fields.get("min"):
            low, high = float(fields["min"]), float(fields["max"])
            self.minimum = low if self.minimum is None else min(self.minimum, low)
            self.maximum = high if self.maximum is None else max(self.maximum, high)
        self.first_start = min(self.first_start, float(fields["started_at"]))
        self.last_finish = max(self.last_finish, float(fields["finished_at"]))
        self.cpu += float(fields["duration_seconds"])
        tally = self.per_worker.setdefault(fields["worker_id"], [0, 0])
        tally[0] += 1
        tally[1] += count
        if keep_row:
            self.rows.append({k: v for k, v in fields.items() if k != "values"})


def ideal_seconds(
    cost_spec: dict[str, Any] | None, work_ms: float, fold: Fold, total_params: int
) -> float:
    """Simulated work of the processed parameters, in seconds."""
    model = cost_model_from_spec(cost_spec, work_ms)
    if isinstance(model, ConstantCost):
        return fold.params * model.ms / 1000.0
    return sum(model.seconds(param) for param in range(total_params))


def efficiency_bound(chunks: int, workers: int) -> float:
    """The best efficiency ``chunks`` equal chunks allow on ``workers`` workers."""
    if chunks == 0 or workers == 0:
        return 0.0
    return chunks / (workers * math.ceil(chunks / workers))


def shares(fold: Fold) -> list[WorkerShare]:
    """Each worker's chunks and parameters, by worker name."""
    chunks = len(fold.unique) or 1
    return [
        WorkerShare(name, tally[0], tally[1], tally[0] / chunks)
        for name, tally in sorted(
            fold.per_worker.items(), key=lambda kv: natural(kv[0])
        )
    ]


def natural(name: str) -> tuple[str, int]:
    """Sort ``worker-10`` after ``worker-9``."""
    stem = name.rstrip("0123456789")
    digits = name[len(stem) :]
    return stem, int(digits) if digits else -1


# --- text --------------------------------------------------------------------


def render(report: Report, verbose: bool = False) -> str:
    """The boxed text form of a report."""
    check = report.verification
    lines = [
        top("╔", "╗"),
        center("TTG Queue Mode - Results Aggregation Report"),
        center(f"run {report.run_id} · {report.mode} mode · {report.plan} plan"),
        top("╠", "╣"),
        center_left("📊 COMPUTATION SUMMARY"),
        top("╠", "╣", "─"),
        row("Total Parameters Processed:", f"{report.params_processed:,}"),
        row("Total Chunks Processed:", f"{report.chunks_processed:,}"),
        row("Grand Sum:", f"{report.grand_sum:,.2f}"),
        row("Global Min:", number(report.global_min, 2)),
        row("Global Max:", number(report.global_max, 2)),
        row("Overall Average:", number(report.overall_average, 4)),
        top("╠", "╣", "─"),
        center_left("🚀 THROUGHPUT ANALYSIS"),
        top("╠", "╣", "─"),
        row("Effective Throughput:", f"{report.params_per_second:,.2f} params/sec"),
        row("CPU Throughput:", f"{report.cpu_params_per_second:,.2f} params/sec"),
        row("Parallelism Factor:", f"{report.parallelism_factor:.2f}x speedup"),
        row("Wall Time:", f"{report.wall_seconds:.3f} s"),
        row("Efficiency:", efficiency_text(report)),
        top("╠", "╣", "─"),
        center_left("👷 WORKER DISTRIBUTION"),
        top("╠", "╣", "─"),
        *[worker_line(share) for share in report.worker_distribution],
        top("╠", "╣", "─"),
        center_left("✅ VERIFICATION" if check.ok else "❌ VERIFICATION"),
        top("╠", "╣", "─"),
        row("Chunks Expected:", f"{check.chunks_expected:,}"),
        row("Chunks With a Result:", f"{check.chunks_with_result:,}"),
        row("Chunks Dead:", f"{check.chunks_dead:,}"),
        row("Chunks Missing:", f"{check.chunks_missing:,}"),
        row("Dead Parameters:", f"{check.dead_params:,}"),
        row("Duplicates Suppressed:", f"{check.duplicates_suppressed:,}"),
        row("Recoveries (expired leases):", f"{check.recoveries:,}"),
        row("Retries (failed attempts):", f"{check.retries:,}"),
    ]
    if report.dead:
        lines += [top("╠", "╣", "─"), center_left("☠ DEAD LETTERS")]
        lines += [dead_line(entry) for entry in report.dead]
    if verbose and report.chunks:
        lines += [top("╠", "╣", "─"), center_left("📦 CHUNKS")]
        lines += [chunk_line(entry) for entry in report.chunks]
    lines.append(top("╚", "╝"))
    return "\n".join(lines)


def top(left: str, right: str, fill: str = "═") -> str:
    """A horizontal rule of the box."""
    return left + fill * WIDTH + right


def fit(text: str) -> str:
    """Pad or cut ``text`` to the box's inner width."""
    return text[:WIDTH].ljust(WIDTH)


def center(text: str) -> str:
    """A centred line inside the box."""
    return "║" + text.center(WIDTH)[:WIDTH] + "║"


def center_left(text: str) -> str:
    """A section heading inside the box."""
    return "║ " + fit(text)[: WIDTH - 1] + "║"


def row(label: str, value: str) -> str:
    """A label on the left, its value right-aligned at a fixed column."""
    return "║" + fit(f"  {label:<28}{value:>22}") + "║"


def number(value: float | None, places: int) -> str:
    """A float with thousands separators, or ``-`` when absent."""
    return "-" if value is None else f"{value:,.{places}f}"


def efficiency_text(report: Report) -> str:
    """Efficiency and its bound, or why there is none."""
    if report.efficiency is None:
        return "n/a (no simulated work)"
    return f"{report.efficiency:.3f} (bound {report.bound:.3f})"


def worker_line(share: WorkerShare) -> str:
    """One worker's share with a bar of 20 cells."""
    filled = round(share.share * 20)
    bar = "█" * filled + "░" * (20 - filled)
    text = f"    {share.worker_id:>10}: {share.chunks:>4} chunks ({share.share:6.1%}) {bar}"
    return "║" + fit(text) + "║"


def dead_line(entry: dict[str, str]) -> str:
    """One dead letter: its parameters and error."""
    start, end = int(entry["start_param"]), int(entry["end_param"])
    params = f"param {start}" if end - start == 1 else f"params {start}-{end - 1}"
    text = (
        f"  chunk {entry['chunk_id']} {params}: {entry['error_type']}: {entry['error']}"
    )
    return "║" + fit(text) + "║"


def chunk_line(entry: dict[str, str]) -> str:
    """One chunk's row for ``--verbose``."""
    text = (
        f"  {entry['chunk_id']} [{entry['start_param']:>7}, {entry['end_param']:>7}) "
        f"{entry['worker_id']:>10} try {entry['attempt']} "
        f"{float(entry['duration_seconds']):7.3f} s sum {float(entry['sum']):,.2f}"
    )
    return "║" + fit(text) + "║"
