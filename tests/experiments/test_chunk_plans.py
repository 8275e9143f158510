"""Chunk plans: every plan covers the range exactly once; guided and adaptive cut as documented."""

from __future__ import annotations

import itertools
import math
import statistics
from typing import Any

import pytest

from ttglib.chunks import GUIDED_K, PLANS, cost_profile, plan_chunks
from ttglib.config import RunSpec
from ttglib.costs import cost_model_from_spec

CLUSTERED = {
    "name": "stragglers",
    "fraction": 0.1,
    "factor": 20,
    "block": 200,
    "seed": 5,
}
COST_MODELS = [
    None,
    {"name": "exponential", "seed": 1},
    {"name": "lognormal", "sigma": 2.0, "seed": 2},
    CLUSTERED,
]


def spec_for(
    plan: str, total: int, chunk: int, workers: int, cost: dict[str, Any] | None = None
) -> RunSpec:
    return RunSpec(
        run_id="plan-test",
        total_params=total,
        chunk_size=chunk,
        workers=workers,
        mode="static" if plan == "static" else "queue",
        plan=plan,
        cost_model=cost,
    )


@pytest.mark.parametrize("plan", sorted(PLANS))
@pytest.mark.parametrize("cost", COST_MODELS, ids=lambda c: c["name"] if c else "none")
def test_every_plan_covers_the_range_exactly_once(
    plan: str, cost: dict[str, Any] | None
) -> None:
    for total, chunk, workers in itertools.product(
        (1, 7, 100, 10_001), (1, 3, 100, 5000), (1, 3, 8)
    ):
        chunks = plan_chunks(spec_for(plan, total, chunk, workers, cost))

        covered = [p for c in chunks for p in c.params()]
        assert covered == list(range(total)), (plan, total, chunk, workers)
        assert all(c.size > 0 for c in chunks)
        assert [int(c.chunk_id) for c in chunks] == list(range(len(chunks)))
        assert {c.total_params for c in chunks} == {total}


def test_guided_chunks_shrink_from_a_share_of_the_range_to_the_minimum() -> None:
    spec = spec_for("guided", 10_000, 20, 4)

    sizes = [c.size for c in plan_chunks(spec)]

    assert sizes[0] == math.ceil(10_000 / (GUIDED_K * 4))
    assert sizes == sorted(sizes, reverse=True)
    assert min(sizes[:-1]) == 20
    assert sizes[-1] <= 20
    assert len(sizes) < 10_000 / 20


def test_guided_never_cuts_under_the_minimum_except_the_tail() -> None:
    spec = spec_for("guided", 1000, 300, 8)

    assert [c.size for c in plan_chunks(spec)] == [300, 300, 300, 100]


def test_adaptive_equals_fixed_when_cost_is_flat() -> None:
    for chunk in (1, 7, 100, 999):
        fixed = plan_chunks(spec_for("fixed", 10_000, chunk, 4))
        adaptive = plan_chunks(spec_for("adaptive", 10_000, chunk, 4))
        assert adaptive == fixed


def test_adaptive_cuts_is_reproducible() -> None:
    spec = spec_for("adaptive", 10_000, 50, 4, CLUSTERED)

    assert plan_chunks(spec) == plan_chunks(spec)


def test_adaptive_evens_out_chunk_durations_where_cost_has_regions() -> None:
    model = cost_model_from_spec(CLUSTERED, 1.0)

    def durations(plan: str) -> list[float]:
        chunks = plan_chunks(spec_for(plan, 20_000, 100, 4, CLUSTERED))
        return [sum(model.seconds(p) for p in c.params()) for c in chunks]

    fixed, adaptive = durations("fixed"), durations("adaptive")

    def spread(values: list[float]) -> float:
        return statistics.pstdev(values) / statistics.mean(values)

    assert spread(adaptive) < spread(fixed) / 2
    assert len(adaptive) == pytest.approx(len(fixed), rel=0.15)


def test_pilot_profile_sees_the_slow_regions() -> None:
    spec = spec_for("adaptive", 20_000, 100, 4, CLUSTERED)
    model = cost_model_from_spec(CLUSTERED, 1.0)

    windows = cost_profile(spec)

    assert windows[0].start_param == 0 and windows[-1].end_param == 20_000
    slow = [w for w in windows if w.seconds_per_param > 0.010]
    truly_slow = [
        w
        for w in windows
        if all(model.seconds(p) > 0.010 for p in range(w.start_param, w.end_param))
    ]
    assert truly_slow and all(w in slow for w in truly_slow)


def test_static_mode_always_cuts_by_owner_whatever_the_plan() -> None:
    spec = RunSpec(
        "plan-test",
        total_params=100,
        chunk_size=10,
        workers=4,
        mode="static",
        plan="guided",
    )

    owners = [c.owner for c in plan_chunks(spec)]

    assert owners == sorted(owners) and set(owners) == {0, 1, 2, 3}
