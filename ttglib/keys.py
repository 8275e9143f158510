"""Every Redis key name ttglib uses, built in one place.

The keys of a run share the hash tag ``{RUN}``, so that on Redis Cluster they
all land on one slot and the Lua scripts may touch several of them at once::

    ttg:runs                 sorted set of run ids, scored by submission time
    ttg:{RUN}:meta           hash: the run's spec
    ttg:{RUN}:tasks          stream: one task per chunk
    ttg:{RUN}:results        stream: one result per settled chunk
    ttg:{RUN}:done           hash: chunk id -> result entry id
    ttg:{RUN}:dead           stream: dead letters
    ttg:{RUN}:counters       hash: duplicates, recoveries, retries
    ttg:{RUN}:workers        hash: worker name -> JSON presence record
    ttg:{RUN}:events         stream: run events ("submitted"), for waiting workers
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "ttg"
GROUP = "ttg-workers"
RUNS_INDEX = f"{PREFIX}:runs"

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def valid_run_id(run_id: str) -> bool:
    """Tell whether ``run_id`` is usable: 1-64 letters, digits, ``.``, ``_``, ``-``."""
    return bool(_RUN_ID.match(run_id))


@dataclass(frozen=True)
class RunKeys:
    """The key names of one run.

    Build it with :meth:`for_run`; :meth:`from_streams` serves the original
    system's API, whose callers name the task and result streams themselves.
    """

    run_id: str
    meta: str
    tasks: str
    results: str
    done: str
    dead: str
    counters: str
    workers: str
    events: str

    @classmethod
    def for_run(cls, run_id: str) -> RunKeys:
        """The namespaced keys of ``run_id``."""
        base = f"{PREFIX}:{{{run_id}}}"
        return cls(
            run_id=run_id,
            meta=f"{base}:meta",
            tasks=f"{base}:tasks",
            results=f"{base}:results",
            done=f"{base}:done",
            dead=f"{base}:dead",
            counters=f"{base}:counters",
            workers=f"{base}:workers",
            events=f"{base}:events",
        )

    @classmethod
    def from_streams(cls, task_stream: str, result_stream: str) -> RunKeys:
        """Keys around two stream names chosen by the caller.

        The auxiliary keys hang off the stream names (``<tasks>:meta``,
        ``<results>:done``, ...), so two pairs of streams never share them.
        """
        return cls(
            run_id=task_stream,
            meta=f"{task_stream}:meta",
            tasks=task_stream,
            results=result_stream,
            done=f"{result_stream}:done",
            dead=f"{task_stream}:dead",
            counters=f"{result_stream}:counters",
            workers=f"{task_stream}:workers",
            events=f"{task_stream}:events",
        )

    def all(self) -> list[str]:
        """Every key of the run, for deletion."""
        return [
            self.meta,
            self.tasks,
            self.results,
            self.done,
            self.dead,
            self.counters,
            self.workers,
            self.events,
        ]


def consumer_name(worker_id: str) -> str:
    """The consumer name of a worker: ``worker-<id>`` for a bare id."""
    return worker_id if worker_id.startswith("worker-") else f"worker-{worker_id}"
