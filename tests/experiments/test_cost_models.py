"""Cost models: reproducible from their seed, pure in the parameter, right on average."""

from __future__ import annotations

import math
import statistics

import pytest

from ttglib.costs import (
    COST_MODELS,
    ConstantCost,
    LognormalCost,
    StragglerCost,
    cost_model_from_spec,
    describe_cost,
    total_cost_seconds,
    unit_draw,
)
from ttglib.errors import UsageError

SAMPLE = range(20_000)

SPECS = [
    {"name": "constant", "ms": 2.0},
    {"name": "uniform", "low_ms": 0.5, "high_ms": 1.5, "seed": 7},
    {"name": "exponential", "mean_ms": 1.0, "seed": 7},
    {"name": "lognormal", "mean_ms": 1.0, "sigma": 1.0, "seed": 7},
    {"name": "stragglers", "fraction": 0.05, "factor": 10, "block": 20, "seed": 7},
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec["name"])
def test_same_seed_gives_the_same_costs(spec: dict[str, object]) -> None:
    first = cost_model_from_spec(spec, work_ms=1.0)
    second = cost_model_from_spec(dict(spec), work_ms=1.0)

    assert [first.seconds(p) for p in SAMPLE] == [second.seconds(p) for p in SAMPLE]


@pytest.mark.parametrize("spec", SPECS[1:], ids=lambda spec: spec["name"])
def test_another_seed_gives_other_costs(spec: dict[str, object]) -> None:
    model = cost_model_from_spec(spec, work_ms=1.0)
    reseeded = cost_model_from_spec({**spec, "seed": 8}, work_ms=1.0)

    differing = sum(model.seconds(p) != reseeded.seconds(p) for p in range(1000))

    assert differing > 50


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec["name"])
def test_cost_does_not_depend_on_evaluation_order(spec: dict[str, object]) -> None:
    model = cost_model_from_spec(spec, work_ms=1.0)
    forward = {p: model.seconds(p) for p in range(500)}

    backward = {p: model.seconds(p) for p in reversed(range(500))}

    assert forward == backward


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec["name"])
def test_sample_mean_matches_the_model_mean(spec: dict[str, object]) -> None:
    model = cost_model_from_spec(spec, work_ms=1.0)

    observed_ms = 1000 * total_cost_seconds(model, SAMPLE) / len(SAMPLE)

    assert observed_ms == pytest.approx(model.mean_ms, rel=0.08)


def test_models_default_their_mean_to_the_work_per_parameter() -> None:
    for name in COST_MODELS:
        if name == "stragglers":
            continue
        model = cost_model_from_spec({"name": name}, work_ms=3.0)
        assert model.mean_ms == pytest.approx(3.0)


def test_lognormal_median_sits_below_the_mean_by_the_shape() -> None:
    model = LognormalCost(mean_ms=2.0, sigma=1.5, seed=3)

    median_ms = 1000 * statistics.median(model.seconds(p) for p in SAMPLE)

    assert median_ms == pytest.approx(2.0 * math.exp(-(1.5**2) / 2), rel=0.05)


def test_stragglers_are_a_fraction_of_blocks_and_come_in_whole_blocks() -> None:
    model = StragglerCost(ms=1.0, fraction=0.1, factor=30.0, block=25, seed=11)

    slow = [p for p in range(25_000) if model.is_straggler(p)]
    blocks = {p // 25 for p in slow}

    assert len(blocks) / 1000 == pytest.approx(0.1, abs=0.03)
    assert len(slow) == 25 * len(blocks)
    assert {model.seconds(p) for p in slow} == {0.030}
    assert model.seconds(next(p for p in range(25_000) if p not in set(slow))) == 0.001


def test_unit_draws_are_inside_the_open_interval() -> None:
    draws = [unit_draw(seed, index) for seed in (0, 1, 2**63) for index in range(5000)]

    assert min(draws) > 0
    assert max(draws) < 1
    assert statistics.mean(draws) == pytest.approx(0.5, abs=0.01)


def test_no_spec_means_constant_work() -> None:
    assert cost_model_from_spec(None, work_ms=1.5) == ConstantCost(1.5)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"name": "gamma"}, "unknown cost model 'gamma'"),
        ({"name": "uniform", "low": 1}, "no option low"),
        ({"name": "uniform", "low_ms": 3, "high_ms": 1}, "low_ms <= high_ms"),
        ({"name": "exponential", "mean_ms": -1}, "0 or more"),
        ({"name": "stragglers", "fraction": 1.5}, "0 to 1"),
        ({"name": "stragglers", "block": 0}, "block"),
        ({"name": "lognormal", "seed": 1.5}, "seed"),
    ],
)
def test_bad_specs_are_refused_with_the_reason(
    spec: dict[str, object], fragment: str
) -> None:
    with pytest.raises(UsageError, match=fragment):
        cost_model_from_spec(spec, work_ms=1.0)


def test_labels_name_the_model_and_its_options_but_not_the_seed() -> None:
    assert describe_cost(None) == "constant"
    assert describe_cost({"name": "exponential", "seed": 4}) == "exponential"
    assert (
        describe_cost({"name": "stragglers", "fraction": 0.01, "block": 50, "seed": 1})
        == "stragglers(block=50, fraction=0.01)"
    )
