"""The core benchmark: efficiency, overhead, scale and recovery, with medians.

Run it with ``make bench`` (or ``python benchmarks/bench_core.py``). It starts
one embedded Redis and runs each scenario several times with local worker
processes, printing the median and the range of every figure. Nothing here is
asserted: the figures are for reading, and the README quotes them.

Scenarios (efficiency = ideal time / (W x wall), the bound is
chunks / (W * ceil(chunks / W))):

1. reference sweep, 10,000 params, chunk 100, 1 ms/param, 3 and 16 workers;
2. the same in chunks of 10 with 8 workers;
3. pure overhead: 10,000 one-parameter chunks, no work, 2 workers, with the
   default batching and with batching off (one task per read) side by side;
4. scale: 10,000,000 params in 10,000 chunks, no work, 2 workers: submit
   time, whole-run time, report time, each worker's peak RSS;
5. submitting 100,000 tasks, and reading 100,000 results into a DataFrame;
6. recovery: a worker SIGKILLed mid-chunk, time until another finishes it;
7. simulated work: a chunk of 100 parameters at 1 ms against its 100 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from ttglib.config import RunSpec, WorkerSettings
from ttglib.local import LocalRunner, RunOutcome
from ttglib.queue import ChunkResult, RunQueue
from ttglib.report import build_report
from ttglib.results import load_results
from ttglib.workloads import ChunkValues


@dataclass
class Figures:
    """Several measurements of one figure."""

    name: str
    unit: str
    values: list[float]

    def line(self) -> str:
        """``name: median unit (min .. max, n runs)``."""
        median = statistics.median(self.values)
        low, high = min(self.values), max(self.values)
        return (
            f"  {self.name:<44} {median:>10.3f} {self.unit:<10} "
            f"(min {low:.3f}, max {high:.3f}, n={len(self.values)})"
        )


def counter() -> Callable[[str], str]:
    """Fresh run ids for the benchmark's runs."""
    stamp = time.strftime("%H%M%S")
    count = iter(range(1_000_000))
    return lambda label: f"bench-{stamp}-{label}-{next(count)}"


def efficiency(
    runner: LocalRunner,
    name: Callable[[str], str],
    chunk: int,
    workers: int,
    repeats: int,
) -> list[Figures]:
    """Scenarios 1 and 2: efficiency of the reference sweep at 1 ms per param."""
    effs, ratios = [], []
    for _ in range(repeats):
        spec = RunSpec(
            name(f"eff{workers}"), 10_000, chunk, workers=workers, work_ms=1.0
        )
        outcome = runner.run(spec, WorkerSettings(run_id=spec.run_id, work_ms=1.0))
        check(outcome)
        assert outcome.report.efficiency is not None
        effs.append(outcome.report.efficiency)
        ratios.append(outcome.report.efficiency / outcome.report.bound)
        RunQueue(runner.client, spec.run_id).delete()
    label = f"chunk {chunk}, {workers} workers"
    return [
        Figures(f"efficiency, {label}", "", effs),
        Figures(f"share of the bound, {label}", "", ratios),
    ]


def overhead(
    runner: LocalRunner, name: Callable[[str], str], max_batch: int, repeats: int
) -> Figures:
    """Scenario 3: chunks per second with no work at all."""
    rates = []
    for _ in range(repeats):
        spec = RunSpec(name("noop"), 10_000, 1, workers=2, work_ms=0.0)
        options = WorkerSettings(run_id=spec.run_id, work_ms=0.0, max_batch=max_batch)
        outcome = runner.run(spec, options)
        check(outcome)
        rates.append(outcome.report.chunks_processed / outcome.report.wall_seconds)
        RunQueue(runner.client, spec.run_id).delete()
    return Figures(f"no-op chunks per second, max batch {max_batch}", "chunks/s", rates)


def scale(
    runner: LocalRunner, name: Callable[[str], str], repeats: int
) -> list[Figures]:
    """Scenario 4: ten million parameters in ten thousand chunks."""
    submit, whole, report, rss = [], [], [], []
    for _ in range(repeats):
        spec = RunSpec(name("10m"), 10_000_000, 1_000, workers=2, work_ms=0.0)
        options = WorkerSettings(run_id=spec.run_id, work_ms=0.0)
        began = time.perf_counter()
        outcome = runner.run(spec, options)
        whole.append(time.perf_counter() - began)
        check(outcome)
        meta = RunQueue(runner.client, spec.run_id)
        submitted = meta.meta().created_at
        first_start = submitted  # the submit happens once every worker is waiting
        del first_start
        began = time.perf_counter()
        build_report(runner.client, spec.run_id)
        report.append(time.perf_counter() - began)
        rss += [w["peak_rss_mb"] for w in meta.workers().values()]
        submit.append(submit_seconds(runner, name, spec))
        meta.delete()
    return [
        Figures("10M params: submit of 10,000 tasks", "s", submit),
        Figures("10M params: whole run (workers start to exit)", "s", whole),
        Figures("10M params: report", "s", report),
        Figures("10M params: worker peak RSS", "MB", rss),
    ]


def submit_seconds(
    runner: LocalRunner, name: Callable[[str], str], like: RunSpec
) -> float:
    """Time one submission of the same shape as ``like``."""
    spec = RunSpec(
        name("submit"), like.total_params, like.chunk_size, workers=like.workers
    )
    outcome = RunQueue(runner.client, spec.run_id).submit(spec)
    RunQueue(runner.client, spec.run_id).delete()
    return outcome.seconds


def big_tables(
    runner: LocalRunner, name: Callable[[str], str], repeats: int
) -> list[Figures]:
    """Scenario 5: submit 100,000 tasks; read 100,000 results into a DataFrame."""
    submits, reads = [], []
    for _ in range(repeats):
        spec = RunSpec(name("100k"), 100_000, 1)
        queue = RunQueue(runner.client, spec.run_id)
        submits.append(queue.submit(spec).seconds)
        fill_results(queue)
        began = time.perf_counter()
        frame = load_results(runner.client, spec.run_id)
        reads.append(time.perf_counter() - began)
        assert len(frame) == 100_000
        queue.delete()
    return [
        Figures("submit 100,000 tasks", "s", submits),
        Figures("load 100,000 results into a DataFrame", "s", reads),
    ]


def fill_results(queue: RunQueue) -> None:
    """Hand in a result for every task of the queue, through the real path."""
    while True:
        tasks = queue.fetch("worker-fill", count=1_000)
        if not tasks:
            return
        now = time.time()
        queue.complete(
            [
                ChunkResult(t, "worker-fill", ChunkValues(1, 1.0, 1.0, 1.0), now, now)
                for t in tasks
            ]
        )


def recovery(runner: LocalRunner, name: Callable[[str], str], repeats: int) -> Figures:
    """Scenario 6: from a SIGKILL to another worker finishing the dead one's chunk.

    The reference sweep on 3 workers with the default 10 s lease; worker 0 is
    killed 1 s in. The figure is the delay beyond the lease.
    """
    delays = []
    lease = WorkerSettings().lease_seconds
    for _ in range(repeats):
        spec = RunSpec(name("kill"), 10_000, 100, workers=3, work_ms=1.0)
        options = WorkerSettings(run_id=spec.run_id, work_ms=1.0)
        outcome = runner.run(spec, options, kill_worker_after=1.0)
        check(outcome)
        frame = load_results(runner.client, spec.run_id)
        recovered = frame[frame["recovered"]]
        if len(recovered) and outcome.killed_at is not None:
            finished = float(recovered["finished_at"].max())
            delays.append(finished - outcome.killed_at - lease)
        RunQueue(runner.client, spec.run_id).delete()
    return Figures(
        f"kill to recovered finish, beyond the {lease:.0f} s lease", "s", delays
    )


def simulated_work(repeats: int) -> Figures:
    """Scenario 7: how close a chunk's simulated work comes to n x w."""
    from ttglib.chunks import Chunk
    from ttglib.costs import ConstantCost
    from ttglib.workloads import Workload, reference_value

    workload = Workload(reference_value, ConstantCost(1.0))
    chunk = Chunk("00000", 0, 100, 100)
    ratios = []
    for _ in range(max(repeats, 10)):
        began = time.perf_counter()
        workload.compute(chunk)
        ratios.append((time.perf_counter() - began) / 0.100)
    return Figures("chunk of 100 x 1 ms: time / 100 ms", "", ratios)


def check(outcome: RunOutcome) -> None:
    """Every benchmark run must be exact; stop at once if one is not."""
    if not outcome.report.verification.ok or outcome.failed_workers:
        sys.exit(f"run {outcome.run_id} is not exact: {outcome.report.verification}")


def main() -> None:
    """Run every scenario and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--only", choices=["eff", "overhead", "scale", "tables", "recovery", "work"]
    )
    args = parser.parse_args()
    name = counter()
    print(
        f"ttglib core benchmark: {os.cpu_count()} cores, {args.repeats} repeats, medians"
    )
    with LocalRunner() as runner:
        print(f"  embedded Redis {runner.redis_version}")
        if args.only in (None, "eff"):
            for chunk, workers in ((100, 3), (100, 16), (10, 8)):
                for figure in efficiency(runner, name, chunk, workers, args.repeats):
                    print(figure.line(), flush=True)
        if args.only in (None, "overhead"):
            for max_batch in (64, 1):
                print(
                    overhead(runner, name, max_batch, args.repeats).line(), flush=True
                )
        if args.only in (None, "scale"):
            for figure in scale(runner, name, args.repeats):
                print(figure.line(), flush=True)
        if args.only in (None, "tables"):
            for figure in big_tables(runner, name, args.repeats):
                print(figure.line(), flush=True)
        if args.only in (None, "recovery"):
            print(recovery(runner, name, args.repeats).line(), flush=True)
        if args.only in (None, "work"):
            print(simulated_work(args.repeats).line(), flush=True)


if __name__ == "__main__":
    main()
