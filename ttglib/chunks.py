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
  equal size. A pilot reads the run's cost model at a sample of parameters
  (:func:`cost_profile`) and each chunk takes as many parameters as fit in
  ``chunk_size`` parameters of average cost; expensive regions get smaller
  chunks, cheap ones larger.

Every plan is a pure function of the spec, so submitting the same spec twice
gives the same chunks and a stored run can be re-cut to check it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ttglib.config import RunSpec
from ttglib.costs import cost_model_from_spec
from ttglib.errors import UsageError

# Guided plan: each chunk is about remaining / (GUIDED_K * workers) parameters.
GUIDED_K = 2

# Adaptive plan pilot: the range is read in this many windows (at most), with
# this many evenly spaced sample parameters in each.
PILOT_WINDOWS = 256
PILOT_SAMPLES_PER_WINDOW = 8


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


def cost_profile(spec: RunSpec) -> list[CostWindow]:
    """The adaptive plan's pilot: estimated cost per parameter, window by window.

    The range is split into at most :data:`PILOT_WINDOWS` windows and the
    run's cost model is read at :data:`PILOT_SAMPLES_PER_WINDOW` evenly spaced
    parameters of each, so about 2,000 parameters are sampled whatever the
    range. The model is seeded, so the profile, and the plan, are the same
    on every call.

    Note:
        The pilot reads the cost model; it does not time the task function.
        For a task whose own computation dominates its simulated cost, the
        adaptive plan sees a flat profile and cuts like ``fixed``. Costs that
        vary from one parameter to the next without pattern cannot be
        foreseen from a sample either: the plan helps where cost has regions.
    """
    model = cost_model_from_spec(spec.cost_model, spec.work_ms)
    total = spec.total_params
    width = math.ceil(total / min(total, PILOT_WINDOWS))
    windows = []
    for low in range(0, total, width):
        high = min(low + width, total)
        step = max(1, (high - low) // PILOT_SAMPLES_PER_WINDOW)
        sample = range(low + step // 2, high, step)
        cost = math.fsum(model.seconds(param) for param in sample) / len(sample)
        windows.append(CostWindow(low, high, cost))
    return windows


def adaptive_bounds(spec: RunSpec) -> list[tuple[int, int, int | None]]:
    """Chunks of equal estimated duration: ``chunk_size`` parameters of mean cost.

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
    target = spec.chunk_size * mean

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
