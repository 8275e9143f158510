"""What a worker computes: the task function and its simulated work.

A task function takes one parameter index and returns a number. The worker
picks it at start-up from its own configuration (``reference`` or an
importable ``module:function``); a message in Redis never names code to run.

Simulated work sleeps towards a deadline that advances by each parameter's
cost, so sleep overshoot does not pile up: a chunk of ``n`` parameters at
``w`` ms takes ``n * w`` ms plus one overshoot, not ``n * (w + overshoot)``.
"""

from __future__ import annotations

import importlib
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from ttglib.chunks import Chunk
from ttglib.costs import ConstantCost, CostModel
from ttglib.errors import UnknownTaskError

TaskFunction = Callable[[int], float]

# How many parameters a cost-free chunk computes between two checkpoints.
SLICE = 512
TRACEBACK_LINES = 8


def reference_value(param: int) -> float:
    """The original system's value: ``(7p + 13) mod 1000 + 0.<p mod 100>``."""
    return (7 * param + 13) % 1000 + float("0." + str(param % 100))


def resolve_task(name: str) -> TaskFunction:
    """The task function named ``reference`` or ``module:function``.

    Raises:
        UnknownTaskError: the module or function cannot be imported, or it is
            not callable.
    """
    if name == "reference":
        return reference_value
    module_name, _, function_name = name.partition(":")
    if not module_name or not function_name:
        raise UnknownTaskError(
            f"task {name!r} must be 'reference' or 'module:function'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise UnknownTaskError(
            f"cannot import task module {module_name!r}: {error}"
        ) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise UnknownTaskError(
            f"module {module_name!r} has no function {function_name!r}"
        )
    return function  # type: ignore[no-any-return]


@dataclass(frozen=True)
class DeadParam:
    """A parameter whose evaluation raised, with the error kept for the report.

    ``end`` is set when a whole range died at once (a chunk whose workers kept
    being lost), so one dead letter stands for ``[param, end)``.
    """

    param: int
    error_type: str
    error: str
    traceback: str
    end: int | None = None


@dataclass
class ChunkValues:
    """What computing one chunk gave: its statistics and any dead parameters."""

    count: int = 0
    total: float = 0.0
    minimum: float | None = None
    maximum: float | None = None
    values: list[float] | None = None
    dead: list[DeadParam] = field(default_factory=list)

    def add(self, values: list[float], keep: bool) -> None:
        """Fold a batch of values into the statistics."""
        if not values:
            return
        self.count += len(values)
        self.total += sum(values)
        low, high = min(values), max(values)
        self.minimum = low if self.minimum is None else min(self.minimum, low)
        self.maximum = high if self.maximum is None else max(self.maximum, high)
        if keep:
            if self.values is None:
                self.values = []
            self.values.extend(values)


class ChunkAbandoned(Exception):
    """Raised inside a chunk's computation when the worker must let it go."""


class Workload:
    """A task function with its simulated cost.

    Args:
        function: the task function.
        cost: simulated seconds per parameter; none when None.
    """

    def __init__(self, function: TaskFunction, cost: CostModel | None = None) -> None:
        self.function = function
        self.cost = cost
        self.free = cost is None or (isinstance(cost, ConstantCost) and cost.ms == 0)

    def compute(
        self,
        chunk: Chunk,
        *,
        keep_values: bool = False,
        isolate: bool = False,
        checkpoint: Callable[[int], bool] = lambda done: False,
    ) -> ChunkValues:
        """Compute every parameter of ``chunk``.

        Args:
            keep_values: keep each parameter's value in the result.
            isolate: evaluate parameter by parameter and record each one that
                raises as dead, instead of letting the first error end the chunk.
            checkpoint: called between parameters with how many are done;
                when it returns True the computation stops with
                :class:`ChunkAbandoned`.

        Raises:
            ChunkAbandoned: ``checkpoint`` asked to stop.
            Exception: whatever the task function raised, unless ``isolate``.
        """
        if self.free and not isolate:
            return self._compute_free(chunk, keep_values, checkpoint)
        return self._compute_each(chunk, keep_values, isolate, checkpoint)

    def _compute_free(
        self, chunk: Chunk, keep_values: bool, checkpoint: Callable[[int], bool]
    ) -> ChunkValues:
        result = ChunkValues()
        for start in range(chunk.start_param, chunk.end_param, SLICE):
            if checkpoint(start - chunk.start_param):
                raise ChunkAbandoned(chunk.chunk_id)
            stop = min(start + SLICE, chunk.end_param)
            result.add(list(map(self.function, range(start, stop))), keep_values)
        return result

    def _compute_each(
        self,
        chunk: Chunk,
        keep_values: bool,
        isolate: bool,
        checkpoint: Callable[[int], bool],
    ) -> ChunkValues:
        result = ChunkValues()
        deadline = time.monotonic()
        for param in chunk.params():
            if checkpoint(param - chunk.start_param):
                raise ChunkAbandoned(chunk.chunk_id)

            # Simulated work: sleep to a deadline that advances by the cost.
            if self.cost is not None:
                deadline += self.cost.seconds(param)
                remaining = deadline - time.monotonic()
                if remaining > 0:
                    time.sleep(remaining)

            if not isolate:
                result.add([self.function(param)], keep_values)
                continue
            try:
                value = self.function(param)
            except Exception as error:
                result.dead.append(dead_param(param, error))
            else:
                result.add([value], keep_values)
        return result


def dead_param(param: int, error: BaseException) -> DeadParam:
    """Record ``error`` raised by ``param``, with the last traceback lines."""
    lines = traceback.format_exception(error)
    tail = "".join(lines[-TRACEBACK_LINES:]).strip()
    return DeadParam(param, type(error).__name__, str(error)[:500], tail[-2000:])
