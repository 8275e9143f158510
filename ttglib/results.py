"""Reading a run's results: in batches, as records or as a pandas DataFrame.

The results stream holds one entry per settled chunk (the completion script
never writes a second one). :func:`iter_results` walks it with XRANGE in
batches; :func:`load_results` turns it into a DataFrame, one row per chunk,
for notebooks. pandas is imported only there, so the worker never loads it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import redis
from redis.client import NEVER_DECODE

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

    stream = RunKeys.for_run(run_id).results
    table = read_table(client, stream, batch)
    columns: dict[str, Any] = {name: table.column(name) for name in COLUMNS}
    frame = pd.DataFrame(columns, columns=COLUMNS)
    if table.rows and table.has("values"):
        frame["values"] = [json.loads(text) for text in table.column("values")]
    return frame.sort_values("chunk_id", kind="stable").reset_index(drop=True)


class RawTable:
    """Stream entries as a grid of bytes, one row per entry, one column per field.

    Entries written by one writer share one field order (the layout), so the
    values are kept as one flat list and cut into columns by numpy; an entry
    with another layout is fitted into the first one by name.
    """

    def __init__(self) -> None:
        self.layout: list[bytes] = []
        self.index: dict[str, int] = {}
        self.values: list[bytes] = []
        self.rows = 0

    def add(self, fields: list[bytes]) -> None:
        """Append one entry's flat ``[name, value, name, value, ...]`` list."""
        names = fields[::2]
        if not self.layout:
            self.layout = names
            self.index = {name.decode(): i for i, name in enumerate(names)}
        if names == self.layout:
            self.values += fields[1::2]
        else:
            by_name = dict(zip(names, fields[1::2], strict=True))
            self.values += [by_name.get(name, b"") for name in self.layout]
        self.rows += 1

    def has(self, name: str) -> bool:
        """The layout has a field ``name``."""
        return name in self.index

    def column(self, name: str) -> Any:
        """One field's values, typed: ints, floats, bools or strings."""
        width = len(self.layout) or 1
        position = self.index.get(name)
        cells = [b""] * self.rows if position is None else self.values[position::width]
        if name in INT_COLUMNS:
            return numbers(cells, int)
        if name in FLOAT_COLUMNS:
            return numbers(cells, float)
        if name == "recovered":
            return [cell == b"1" for cell in cells]
        return [cell.decode() for cell in cells]


def numbers(cells: list[bytes], kind: type[int] | type[float]) -> Any:
    """Parse number texts into a numpy array; a missing one is 0 or NaN."""
    import numpy as np

    if b"" in cells:
        empty = b"0" if kind is int else b"nan"
        cells = [cell or empty for cell in cells]
    dtype = np.int64 if kind is int else np.float64
    return np.fromiter(map(kind, cells), dtype=dtype, count=len(cells))


def read_table(client: redis.Redis, stream: str, batch: int = BATCH) -> RawTable:
    """Read a whole stream into a :class:`RawTable` (XRANGE, in batches).

    The replies skip redis-py's per-entry parsing and decoding, which is what
    lets 100,000 results load in about a second.
    """
    bulk = redis.Redis(connection_pool=client.connection_pool)
    bulk.set_response_callback("XRANGE", lambda response, **options: response)
    table = RawTable()
    start: bytes | str = "-"
    while True:
        reply = bulk.execute_command(  # type: ignore[no-untyped-call]
            "XRANGE", stream, start, "+", "COUNT", batch, **{NEVER_DECODE: True}
        )
        for _, fields in reply:
            table.add(fields)
        if len(reply) < batch:
            return table
        start = b"(" + reply[-1][0]
