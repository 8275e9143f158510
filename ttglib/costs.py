"""Per-parameter simulated cost: how long the reference workload sleeps.

A cost model maps a parameter index to seconds of simulated work. Models are
pure functions of the parameter (and a seed), so every worker computes the
same cost for the same parameter, and a run is reproducible from its meta.
The model of a run is stored in its meta as a JSON mapping
``{"name": ..., ...}`` and rebuilt here by name; Redis never names code.

The random models draw one number per parameter from a 64-bit hash of
``(seed, param)`` (SplitMix64), not from a shared random generator: the cost
of parameter 4,200 is the same whichever worker computes it, in whatever
order, and needs no state. The models, with their options (``*_ms`` in
milliseconds, every ``ms`` option defaulting from the run's ``work_ms``):

==============  ===============================================  ==============
name            cost of one parameter                            mean
==============  ===============================================  ==============
``constant``    ``ms``                                           ``ms``
``uniform``     uniform in ``[low_ms, high_ms]`` (0, 2 x ms)     midpoint
``exponential`` exponential with mean ``mean_ms``                ``mean_ms``
``lognormal``   lognormal with mean ``mean_ms``, shape ``sigma`` ``mean_ms``
``stragglers``  ``ms``, or ``ms x factor`` for a ``fraction``    see below
                of the blocks of ``block`` consecutive params
==============  ===============================================  ==============

The stragglers model costs ``ms x (1 + fraction x (factor - 1))`` on average.
With ``block`` above 1 the slow parameters come in runs, as when one region
of a parameter space is hard; that is what makes a fixed split uneven.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Protocol

from ttglib.errors import UsageError

MASK64 = (1 << 64) - 1
_STANDARD_NORMAL = NormalDist()


class CostModel(Protocol):
    """Seconds of simulated work for one parameter."""

    def seconds(self, param: int) -> float:
        """The simulated cost of ``param``."""
        ...


def splitmix64(value: int) -> int:
    """One round of the SplitMix64 mixer: a well-spread 64-bit hash of ``value``."""
    value = (value + 0x9E3779B97F4A7C15) & MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK64
    return value ^ (value >> 31)


def unit_draw(seed: int, index: int) -> float:
    """A number in the open interval (0, 1), fixed by ``seed`` and ``index``.

    The same pair always gives the same number, on every machine and Python.
    """
    mixed = splitmix64(splitmix64(seed & MASK64) ^ (index & MASK64))
    return ((mixed >> 11) + 0.5) / float(1 << 53)


@dataclass(frozen=True)
class ConstantCost:
    """Every parameter costs ``ms`` milliseconds (the original system's model)."""

    ms: float

    @property
    def mean_ms(self) -> float:
        """The expected cost of one parameter."""
        return self.ms

    def seconds(self, param: int) -> float:
        """``ms / 1000`` whatever the parameter."""
        return self.ms / 1000.0


@dataclass(frozen=True)
class UniformCost:
    """Costs spread evenly between ``low_ms`` and ``high_ms``."""

    low_ms: float
    high_ms: float
    seed: int = 0

    @property
    def mean_ms(self) -> float:
        """The expected cost of one parameter."""
        return (self.low_ms + self.high_ms) / 2

    def seconds(self, param: int) -> float:
        """A uniform draw for ``param``, in seconds."""
        draw = unit_draw(self.seed, param)
        return (self.low_ms + draw * (self.high_ms - self.low_ms)) / 1000.0


@dataclass(frozen=True)
class ExponentialCost:
    """Exponentially distributed costs: many cheap parameters, a few long ones."""

    mean_ms: float
    seed: int = 0

    def seconds(self, param: int) -> float:
        """An exponential draw for ``param`` (inverse transform), in seconds."""
        draw = unit_draw(self.seed, param)
        return -self.mean_ms * math.log(draw) / 1000.0


@dataclass(frozen=True)
class LognormalCost:
    """Lognormal costs with a given mean; ``sigma`` sets how heavy the tail is.

    With ``mu = ln(mean_ms) - sigma**2 / 2`` the mean stays ``mean_ms`` for
    every ``sigma``; the median is ``mean_ms * exp(-sigma**2 / 2)``.
    """

    mean_ms: float
    sigma: float = 1.0
    seed: int = 0

    def seconds(self, param: int) -> float:
        """A lognormal draw for ``param``, in seconds."""
        if self.mean_ms == 0:
            return 0.0
        mu = math.log(self.mean_ms) - self.sigma**2 / 2
        normal = _STANDARD_NORMAL.inv_cdf(unit_draw(self.seed, param))
        return math.exp(mu + self.sigma * normal) / 1000.0


@dataclass(frozen=True)
class StragglerCost:
    """Constant cost, except a ``fraction`` of blocks that are ``factor`` times slower.

    Parameters ``b * block .. (b + 1) * block - 1`` form block ``b``; a block
    is slow when its draw falls under ``fraction``.
    """

    ms: float
    fraction: float = 0.01
    factor: float = 20.0
    block: int = 1
    seed: int = 0

    @property
    def mean_ms(self) -> float:
        """The expected cost of one parameter."""
        return self.ms * (1 + self.fraction * (self.factor - 1))

    def is_straggler(self, param: int) -> bool:
        """Tell whether ``param`` falls in a slow block."""
        return unit_draw(self.seed, param // self.block) < self.fraction

    def seconds(self, param: int) -> float:
        """``ms`` or ``ms * factor`` for ``param``, in seconds."""
        factor = self.factor if self.is_straggler(param) else 1.0
        return self.ms * factor / 1000.0


CostFactory = Callable[[Mapping[str, Any], float], CostModel]


def constant_from_spec(spec: Mapping[str, Any], work_ms: float) -> CostModel:
    """``{"name": "constant", "ms": 2}``; ``ms`` defaults to the worker's ``work_ms``.

    A ``seed`` is accepted and ignored, so a sweep may seed every model alike.
    """
    check_options(spec, {"ms", "seed"})
    return ConstantCost(non_negative(spec, "ms", work_ms))


def uniform_from_spec(spec: Mapping[str, Any], work_ms: float) -> CostModel:
    """``{"name": "uniform", "low_ms": 0, "high_ms": 2, "seed": 1}``."""
    check_options(spec, {"low_ms", "high_ms", "seed"})
    low = non_negative(spec, "low_ms", 0.0)
    high = non_negative(spec, "high_ms", 2 * work_ms)
    if high < low:
        raise UsageError(f"uniform cost needs low_ms <= high_ms, not {low} > {high}")
    return UniformCost(low, high, seed_of(spec))


def exponential_from_spec(spec: Mapping[str, Any], work_ms: float) -> CostModel:
    """``{"name": "exponential", "mean_ms": 1, "seed": 1}``."""
    check_options(spec, {"mean_ms", "seed"})
    return ExponentialCost(non_negative(spec, "mean_ms", work_ms), seed_of(spec))


def lognormal_from_spec(spec: Mapping[str, Any], work_ms: float) -> CostModel:
    """``{"name": "lognormal", "mean_ms": 1, "sigma": 1.0, "seed": 1}``."""
    check_options(spec, {"mean_ms", "sigma", "seed"})
    return LognormalCost(
        non_negative(spec, "mean_ms", work_ms),
        non_negative(spec, "sigma", 1.0),
        seed_of(spec),
    )


def stragglers_from_spec(spec: Mapping[str, Any], work_ms: float) -> CostModel:
    """``{"name": "stragglers", "fraction": 0.01, "factor": 20, "block": 1, "seed": 1}``."""
    check_options(spec, {"ms", "fraction", "factor", "block", "seed"})
    fraction = non_negative(spec, "fraction", 0.01)
    if fraction > 1:
        raise UsageError(f"stragglers fraction must be 0 to 1, not {fraction}")
    block = spec.get("block", 1)
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise UsageError(
            f"stragglers block must be a whole number above 0, not {block!r}"
        )
    return StragglerCost(
        ms=non_negative(spec, "ms", work_ms),
        fraction=fraction,
        factor=non_negative(spec, "factor", 20.0),
        block=block,
        seed=seed_of(spec),
    )


COST_MODELS: dict[str, CostFactory] = {
    "constant": constant_from_spec,
    "uniform": uniform_from_spec,
    "exponential": exponential_from_spec,
    "lognormal": lognormal_from_spec,
    "stragglers": stragglers_from_spec,
}


def cost_model_from_spec(spec: Mapping[str, Any] | None, work_ms: float) -> CostModel:
    """Build the cost model a run's meta names; constant ``work_ms`` when none.

    Raises:
        UsageError: an unknown model name, an unknown option, or a value out
            of range.
    """
    if not spec:
        return ConstantCost(work_ms)
    name = str(spec.get("name", ""))
    try:
        factory = COST_MODELS[name]
    except KeyError:
        known = ", ".join(sorted(COST_MODELS))
        raise UsageError(f"unknown cost model {name!r}; known: {known}") from None
    return factory(spec, work_ms)


def describe_cost(spec: Mapping[str, Any] | None) -> str:
    """A short label for a cost model spec, for tables and chart legends.

    Example:
        >>> describe_cost({"name": "lognormal", "sigma": 1.5, "seed": 3})
        'lognormal(sigma=1.5)'
    """
    if not spec:
        return "constant"
    options = [
        f"{key}={value}"
        for key, value in sorted(spec.items())
        if key not in ("name", "seed")
    ]
    name = str(spec.get("name", "constant"))
    return f"{name}({', '.join(options)})" if options else name


def total_cost_seconds(model: CostModel, params: Iterable[int]) -> float:
    """The summed simulated cost of ``params``: the work a run must sleep through."""
    return math.fsum(model.seconds(param) for param in params)


def check_options(spec: Mapping[str, Any], allowed: set[str]) -> None:
    """Refuse options a model does not know, so a typo does not pass unseen."""
    unknown = sorted(set(spec) - allowed - {"name"})
    if unknown:
        name = spec.get("name")
        known = ", ".join(sorted(allowed))
        raise UsageError(
            f"cost model {name!r} has no option {', '.join(unknown)}; it takes {known}"
        )


def non_negative(spec: Mapping[str, Any], key: str, default: float) -> float:
    """Read a number option, 0 or more."""
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise UsageError(
            f"cost option {key} must be a number, 0 or more, not {value!r}"
        )
    return float(value)


def seed_of(spec: Mapping[str, Any]) -> int:
    """Read the ``seed`` option: a whole number, 0 by default."""
    seed = spec.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UsageError(f"cost option seed must be a whole number, not {seed!r}")
    return seed
