"""Chunks, and the plans that cut a parameter range into them.

A chunk is the half-open slice ``[start_param, end_param)`` of the range
``0 .. total_params - 1``. A plan turns a :class:`~ttglib.config.RunSpec` into
the list of chunks of the run; every plan covers the range exactly once, in
order, and numbers its chunks from 0.

- ``fixed`` (queue mode): chunks of ``chunk_size``, the last one shorter.
- ``static`` (static mode, the original v1.1): worker ``i`` of ``W`` owns the
  contiguous range ``[i * n // W ...)`` with the remainder on the last worker,
  cut into chunks of ``chunk_size`` inside that range.
- ``guided`` (queue mode): chunks shrink as the range is used up, as in
  OpenMP's guided schedule. Each chunk holds about ``remaining / (k * W)``
  parameters (:data:`GUIDED_K` is ``k``, ``W`` the planned workers), never
  fewer than ``chunk_size``: big chunks early for low overhead, small ones at
  the end so the workers finish together.
- ``adaptive`` (queue mode): chunks of equal estimated *duration* instead of
  equal size. A pilot estimates each window's cost per parameter
  (:func:`cost_profile`): the run's simulated cost, read from its cost model,
  plus the task function's own time, measured by :func:`measure_task` before
  submission and stored in the spec. Each chunk then takes as many
  parameters as fit in the target duration (``plan_options["target_seconds"]``,
  by default ``chunk_size`` parameters of average cost): expensive regions
  get smaller chunks, cheap ones larger.

Every plan is a pure function of the spec (the measured pilot is part of
it), so submitting the same spec twice gives the same chunks and a stored run
can be re-cut to check it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from ttglib.config import RunSpec
from ttglib.costs import cost_model_from_spec
from ttglib.errors import UsageError

# Guided plan: each chunk is about remaining / (GUIDED_K * workers) parameters.
GUIDED_K = 2

# Adaptive plan pilot: the range is read in this many windows (at most), with
# this many evenly spaced sample parameters in each.
PILOT_WINDOWS = 256
PILOT_SAMPLES_PER_WINDOW = 8
# The most time the launcher spends timing the task function before submitting.
PILOT_BUDGET_SECONDS = 1.0


@dataclass(frozen=True)
class Chunk:
    """One slice of the parameter range.

    Attributes:
        chunk_id: zero-padded index, e.g. ``"00042"``.
        start_param: first parameter, included.
        end_param: last parameter, excluded.
        total_params: size of the whole range, as in the original task message.
        owner: in static mode, the index of the worker that owns the chunk.
    """

    chunk_id: str
    start_param: int
    end_param: int
    total_params: int
    owner: int | None = None

    @property
    def size(self) -> int:
        """How many parameters the chunk holds."""
        return self.end_param - self.start_param

    def params(self) -> range:
        """The chunk's parameters."""
        return range(self.start_param, self.end_param)

    def fields(self) -> dict[str, str]:
        """The chunk as stream fields."""
        return {
            "chunk_id": self.chunk_id,
            "start_param": str(self.start_param),
            "end_param": str(self.end_param),
            "total_params": str(self.total_params),
        }

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> Chunk:
        """Rebuild a chunk from stream fields."""
        return cls(
            chunk_id=fields["chunk_id"],
            start_param=int(fields["start_param"]),
            end_param=int(fields["end_param"]),
            total_params=int(fields["total_params"]),
        )


def chunk_id_width(count: int) -> int:
    """Digits for chunk ids: at least 5, as in the original system."""
    return max(5, len(str(max(count - 1, 0))))


def number(bounds: list[tuple[int, int, int | None]], total: int) -> list[Chunk]:
    """Turn ``(start, end, owner)`` triples into numbered chunks."""
    width = chunk_id_width(len(bounds))
    return [
        Chunk(f"{index:0{width}d}", start, end, total, owner)
        for index, (start, end, owner) in enumerate(bounds)
    ]


def fixed_bounds(spec: RunSpec) -> list[tuple[int, int, int | None]]:
    """Chunks of ``chunk_size``; the last one takes what is left."""
    total, size = spec.total_params, spec.chunk_size
    return [(start, min(start + size, total), None) for start in range(0, total, size)]


def static_ranges(total_params: int, workers: int) -> list[tuple[int, int]]:
    """Worker ``i``'s contiguous range; the remainder goes to the last worker."""
    share = total_params // workers
    ranges = []
    for index in range(workers):
        start = index * share
        end = total_params if index == workers - 1 else start + share
        ranges.append((start, end))
    return ranges


def static_bounds(spec: RunSpec) -> list[tuple[int, int, int | None]]:
    """Each worker's range, cut into chunks of ``chunk_size``."""
    bounds: list[tuple[int, int, int | None]] = []
    for owner, (low, high) in enumerate(static_ranges(spec.total_params, spec.workers)):
        for start in range(low, high, spec.chunk_size):
            bounds.append((start, min(start + spec.chunk_size, high), owner))
    return bounds


def guided_bounds(spec: RunSpec) -> list[tuple[int, int, int | None]]:
    """Shrinking chunks: ``ceil(remaining / (GUIDED_K * workers))``, at least ``chunk_size``."""
    total, share = spec.total_params, GUIDED_K * spec.workers
    bounds: list[tuple[int, int, int | None]] = []
    start = 0
    while start < total:
        remaining = total - start
        size = min(remaining, max(spec.chunk_size, math.ceil(remaining / share)))
        bounds.append((start, start + size, None))
        start += size
    return bounds


@dataclass(frozen=True)
class CostWindow:
    """The pilot's estimate for one window of the range.

    Attributes:
        start_param: first parameter of the window, included.
        end_param: last parameter of the window, excluded.
        seconds_per_param: mean cost of the window's sample parameters.
    """

    start_param: int
    end_param: int
    seconds_per_param: float


def pilot_windows(total_params: int) -> list[tuple[int, int]]:
    """The pilot's windows: at most :data:`PILOT_WINDOWS` slices of the range."""
    width = math.ceil(total_params / min(total_params, PILOT_WINDOWS))
    return [
        (low, min(low + width, total_params)) for low in range(0, total_params, width)
    ]


def measure_task(
    spec: RunSpec,
    function: Callable[[int], object],
    budget_seconds: float = PILOT_BUDGET_SECONDS,
) -> list[float]:
    """Time the task function at the middle parameter of each pilot window.

    Returns:
        Milliseconds per parameter, one figure per window, rounded to the
        microsecond. Windows the budget did not reach, or whose parameter
        raised, get the mean of the others.

    Note:
        One call per window is a small sample: it sees where cost has
        regions, not how it varies from one parameter to the next.
    """
    windows = pilot_windows(spec.total_params)
    measured: list[float | None] = []
    deadline = time.perf_counter() + budget_seconds
    for low, high in windows:
        if time.perf_counter() > deadline:
            break
        began = time.perf_counter()
        try:
            function((low + high) // 2)
        except Exception:
            measured.append(None)
            continue
        measured.append((time.perf_counter() - began) * 1000)

    known = [value for value in measured if value is not None]
    mean = math.fsum(known) / len(known) if known else 0.0
    measured += [None] * (len(windows) - len(measured))
    return [round(mean if value is None else value, 3) for value in measured]


def with_measured_pilot(spec: RunSpec, function: Callable[[int], object]) -> RunSpec:
    """``spec`` with its task function timed, if its plan is ``adaptive``."""
    options = dict(spec.plan_options or {})
    if spec.plan != "adaptive" or spec.mode != "queue" or "measured_ms" in options:
        return spec
    options["measured_ms"] = measure_task(spec, function)
    return replace(spec, plan_options=options)


def cost_profile(spec: RunSpec) -> list[CostWindow]:
    """The adaptive plan's pilot: estimated cost per parameter, window by window.

    The range is split into at most :data:`PILOT_WINDOWS` windows and the
    run's cost model is read at :data:`PILOT_SAMPLES_PER_WINDOW` evenly spaced
    parameters of each, so about 2,000 parameters are sampled whatever the
    range; the task function's measured time for the window
    (``plan_options["measured_ms"]``, from :func:`measure_task`) is added.
    Both are in the spec, so the profile, and the plan, are the same on every
    call.

    Note:
        Costs that vary from one parameter to the next without pattern cannot
        be foreseen from a sample: the plan helps where cost has regions.
    """
    model = cost_model_from_spec(spec.cost_model, spec.work_ms)
    bounds = pilot_windows(spec.total_params)
    measured = list((spec.plan_options or {}).get("measured_ms") or [])
    if len(measured) != len(bounds):
        measured = [0.0] * len(bounds)
    windows = []
    for (low, high), task_ms in zip(bounds, measured, strict=True):
        step = max(1, (high - low) // PILOT_SAMPLES_PER_WINDOW)
        sample = range(low + step // 2, high, step)
        cost = math.fsum(model.seconds(param) for param in sample) / len(sample)
        windows.append(CostWindow(low, high, cost + float(task_ms) / 1000))
    return windows


def adaptive_bounds(spec: RunSpec) -> list[tuple[int, int, int | None]]:
    """Chunks of equal estimated duration: the target, or ``chunk_size`` of mean cost.

    Walks the pilot's windows, adding parameters to the current chunk until
    its estimated cost reaches the target; a chunk holds at least one
    parameter. With a flat profile this is exactly the ``fixed`` plan.
    """
    windows = cost_profile(spec)
    mean = math.fsum(
        w.seconds_per_param * (w.end_param - w.start_param) for w in windows
    )
    mean /= spec.total_params
    if mean <= 0:
        return fixed_bounds(spec)
    target = spec.target() or spec.chunk_size * mean

    bounds: list[tuple[int, int, int | None]] = []
    start, filled = 0, 0.0
    for window in windows:
        cost, position = window.seconds_per_param, window.start_param
        while position < window.end_param:
            left = window.end_param - position
            needed = left + 1 if cost == 0 else max(1, round((target - filled) / cost))
            take = min(needed, left)
            position += take
            filled += take * cost
            if take == needed:
                bounds.append((start, position, None))
                start, filled = position, 0.0
    if start < spec.total_params:
        bounds.append((start, spec.total_params, None))
    return bounds


PlanFunction = Callable[[RunSpec], list[tuple[int, int, int | None]]]

PLANS: dict[str, PlanFunction] = {
    "fixed": fixed_bounds,
    "static": static_bounds,
    "guided": guided_bounds,
    "adaptive": adaptive_bounds,
}


def plan_chunks(spec: RunSpec) -> list[Chunk]:
    """The chunks of a run, by its plan (static mode always uses ``static``)."""
    name = "static" if spec.mode == "static" else spec.plan
    try:
        plan = PLANS[name]
    except KeyError:
        known = ", ".join(sorted(PLANS))
        raise UsageError(f"unknown plan {name!r}; known plans: {known}") from None
    return number(plan(spec), spec.total_params)
