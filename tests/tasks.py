"""Task functions for the tests, importable by worker processes as ``tests.tasks:NAME``."""

from __future__ import annotations

import time

from ttglib.workloads import reference_value

POISON = 1234


def poison(param: int) -> float:
    """The reference value, except that parameter 1234 always raises."""
    if param == POISON:
        raise ValueError(f"parameter {param} is poison")
    return reference_value(param)


def slow(param: int) -> float:
    """The reference value after 50 ms."""
    time.sleep(0.05)
    return reference_value(param)


def not_a_number(param: int) -> str:
    """Returns a string: for the type check test."""
    return "x"


def slow_upper_half(param: int) -> float:
    """The reference value; parameters from 5,000 on take 2 ms more."""
    if param >= 5_000:
        time.sleep(0.002)
    return reference_value(param)
