"""Command-line options shared by the ``ttg`` commands, defined once.

Each function returns a click option decorator; :func:`apply` stacks several.
An option that mirrors one of the original system's variables reads it
(``TOTAL_PARAMS``, ``CHUNK_SIZE``, ``SIMULATE_WORK_MS``,
``IDLE_TIMEOUT_SECONDS``, ``TTG_RUN_ID``) and says so in its help.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ttglib.config import RunSpec

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[F], F]

POSITIVE = click.IntRange(min=1)
NON_NEGATIVE = click.FloatRange(min=0)
SECONDS = click.FloatRange(min=0, min_open=True)


def apply(function: F, *decorators: Callable[[Any], Any]) -> F:
    """Apply ``decorators`` so that ``--help`` lists them in the order given."""
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def run_id(default: str | None, help_default: str = "") -> Callable[[Any], Any]:
    """``--run-id`` [env TTG_RUN_ID]."""
    suffix = f"; default: {help_default}" if help_default else ""
    return click.option(
        "--run-id",
        envvar="TTG_RUN_ID",
        default=default,
        help=f"The run's id [env TTG_RUN_ID{suffix}].",
    )


def total_params(
    default: int | None = 10_000, help_text: str = "Parameters to sweep."
) -> Callable[[Any], Any]:
    """``--total-params`` [env TOTAL_PARAMS]."""
    return click.option(
        "--total-params",
        envvar="TOTAL_PARAMS",
        type=POSITIVE,
        default=default,
        show_default=default is not None,
        help=f"{help_text} [env TOTAL_PARAMS]",
    )


def chunk_size(
    default: int | None = 100, help_text: str = "Parameters per chunk."
) -> Callable[[Any], Any]:
    """``--chunk-size`` [env CHUNK_SIZE]."""
    return click.option(
        "--chunk-size",
        envvar="CHUNK_SIZE",
        type=POSITIVE,
        default=default,
        show_default=default is not None,
        help=f"{help_text} [env CHUNK_SIZE]",
    )


def work_ms() -> Callable[[Any], Any]:
    """``--work-ms`` [env SIMULATE_WORK_MS]."""
    return click.option(
        "--work-ms",
        envvar="SIMULATE_WORK_MS",
        type=NON_NEGATIVE,
        default=1.0,
        show_default=True,
        help="Simulated work per parameter, ms [env SIMULATE_WORK_MS].",
    )


def mode(default: str | None, help_text: str) -> Callable[[Any], Any]:
    """``--mode queue|static``."""
    return click.option(
        "--mode",
        type=click.Choice(["queue", "static"]),
        default=default,
        show_default=default is not None,
        help=help_text,
    )


def task(
    help_text: str = "Task function: 'reference' or module:function.",
) -> Callable[[Any], Any]:
    """``--task``."""
    return click.option(
        "--task", default="reference", show_default=True, help=help_text
    )


def lease_seconds() -> Callable[[Any], Any]:
    """``--lease-seconds``."""
    return click.option(
        "--lease-seconds",
        type=SECONDS,
        default=10.0,
        show_default=True,
        help="A silent worker's tasks go to others after this long.",
    )


def max_attempts(default: int | None = 3) -> Callable[[Any], Any]:
    """``--max-attempts``."""
    return click.option(
        "--max-attempts",
        type=POSITIVE,
        default=default,
        show_default=default is not None,
        help="Deliveries of a failing chunk before it is narrowed down.",
    )


def grace_seconds() -> Callable[[Any], Any]:
    """``--grace-seconds``."""
    return click.option(
        "--grace-seconds",
        type=NON_NEGATIVE,
        default=20.0,
        show_default=True,
        help="On SIGTERM, time to finish the current chunk.",
    )


def idle_timeout() -> Callable[[Any], Any]:
    """``--idle-timeout`` [env IDLE_TIMEOUT_SECONDS]."""
    return click.option(
        "--idle-timeout",
        "idle_timeout",
        envvar="IDLE_TIMEOUT_SECONDS",
        type=SECONDS,
        default=30.0,
        show_default=True,
        help="Leave after this long with nothing to do [env IDLE_TIMEOUT_SECONDS].",
    )


def plan() -> Callable[[Any], Any]:
    """``--plan``: how a queue-mode run is cut."""
    return click.option(
        "--plan",
        type=click.Choice(["fixed", "guided", "adaptive"]),
        default="fixed",
        show_default=True,
        help="Chunks of chunk-size (fixed), shrinking towards the end (guided), "
        "or of equal measured duration (adaptive). Static mode ignores it.",
    )


def target_seconds() -> Callable[[Any], Any]:
    """``--target-seconds``: the adaptive plan's chunk duration."""
    return click.option(
        "--target-seconds",
        type=SECONDS,
        default=None,
        help="Chunk duration the adaptive plan aims at "
        "[default: chunk-size parameters of average cost].",
    )


def run_spec(values: dict[str, Any], run_id: str) -> RunSpec:
    """The run that the shape options (:func:`total_params`, ...) describe."""
    target = values.get("target_seconds")
    return RunSpec(
        run_id=run_id,
        total_params=values["total_params"],
        chunk_size=values["chunk_size"],
        mode=values["mode"],
        workers=values["workers"],
        work_ms=values["work_ms"],
        task=values["task"],
        plan=values.get("plan") or "fixed",
        plan_options=None if target is None else {"target_seconds": target},
    )
