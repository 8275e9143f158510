"""Reading a run's results: in batches, as records or as a pandas DataFrame.

The results stream holds one entry per settled chunk (the completion script
never writes a second one). :func:`iter_results` walks it with XRANGE in
batches; :func:`load_results` turns it into a DataFrame, one row per chunk,
for notebooks. pandas is imported only there, so the worker never loads it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import redis

from ttglib.keys import RunKeys
from ttglib.queue import RunQueue

if TYPE_CHECKING:
    import pandas as pd

BATCH = 10_000

INT_COLUMNS = {"start_param", "end_param", "count", "attempt", "dead_params"}
FLOAT_COLUMNS = {
    "sum",
    "min",
    "max",
    "avg",
    "started_at",
    "finished_at",
    "duration_seconds",
}
COLUMNS = [
    "chunk_id",
    "start_param",
    "end_param",
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "worker_id",
    "attempt",
    "recovered",
    "started_at",
    "finished_at",
    "duration_seconds",
    "dead_params",
]


def iter_stream(
    client: redis.Redis, stream: str, batch: int = BATCH
) -> Iterator[list[tuple[str, dict[str, str]]]]:
    """Yield a stream's entries in batches of at most ``batch`` (XRANGE)."""
    start = "-"
    while True:
        entries = client.xrange(stream, min=start, max="+", count=batch)
        if not entries:
            return
        yield entries  # type: ignore[misc]
        if len(entries) < batch:
            return
        start = "(" + str(entries[-1][0])


def iter_results(
    client: redis.Redis, run_id: str, batch: int = BATCH
) -> Iterator[dict[str, str]]:
    """Yield each result of a run as its stream fields."""
    stream = RunKeys.for_run(run_id).results
    for entries in iter_stream(client, stream, batch):
        for _, fields in entries:
            yield fields


def iter_dead(client: redis.Redis, run_id: str) -> Iterator[dict[str, str]]:
    """Yield each dead letter of a run."""
    for entries in iter_stream(client, RunKeys.for_run(run_id).dead):
        for _, fields in entries:
            yield fields


def load_results(client: redis.Redis, run_id: str, batch: int = BATCH) -> pd.DataFrame:
    """A run's results as a DataFrame, one row per chunk, ordered by chunk id.

    Columns: ``chunk_id``, ``start_param``, ``end_param``, ``count``, ``sum``,
    ``min``, ``max``, ``avg``, ``worker_id``, ``attempt``, ``recovered``
    (taken over from an expired lease), ``started_at``, ``finished_at`` (unix
    seconds), ``duration_seconds``, ``dead_params``; ``values`` (a list) when
    the run stored them.

    Raises:
        RunNotFoundError: no such run.
        ImportError: pandas is missing (``pip install 'ttglib[analysis]'``).
    """
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(
            "reading results as a table needs pandas: pip install 'ttglib[analysis]'"
        ) from None
    RunQueue(client, run_id).meta()

    raw: dict[str, list[str]] = {name: [] for name in COLUMNS}
    values: list[str] = []
    for fields in iter_results(client, run_id, batch):
        for name in COLUMNS:
            raw[name].append(fields.get(name, ""))
        if "values" in fields:
            values.append(fields["values"])

    frame = pd.DataFrame({name: typed_column(name, raw[name]) for name in COLUMNS})
    if values and len(values) == len(frame):
        frame["values"] = [json.loads(text) for text in values]
    return frame.sort_values("chunk_id", kind="stable").reset_index(drop=True)


def typed_column(name: str, texts: list[str]) -> list[Any]:
    """Parse one column's stream strings into ints, floats, bools or strings."""
    if name in INT_COLUMNS:
        return [int(text) if text else 0 for text in texts]
    if name in FLOAT_COLUMNS:
        return [float(text) if text else math.nan for text in texts]
    if name == "recovered":
        return [text == "1" for text in texts]
    return texts
