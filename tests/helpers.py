"""Helpers for the tests: worker threads and worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import redis

from ttglib.config import RedisSettings, WorkerSettings
from ttglib.connection import connect
from ttglib.worker import Worker, WorkerSummary
from ttglib.workloads import reference_value

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_SUM_10K = sum(reference_value(p) for p in range(10_000))


class WorkerThread(threading.Thread):
    """A :class:`Worker` on its own connection, in a thread of the test process."""

    def __init__(self, settings: RedisSettings, options: WorkerSettings) -> None:
        super().__init__(daemon=True)
        self.client = connect(settings)
        self.worker = Worker(self.client, options)
        self.summary: WorkerSummary | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.summary = self.worker.run()
        except BaseException as error:  # reported by the test
            self.error = error
        finally:
            self.client.close()


def run_threads(
    settings: RedisSettings, options: list[WorkerSettings], timeout: float = 60
) -> list[WorkerSummary]:
    """Run workers in threads until they all return; fail on any error."""
    threads = [WorkerThread(settings, one) for one in options]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), "worker thread did not finish"
        if thread.error is not None:
            raise thread.error
    return [thread.summary for thread in threads if thread.summary is not None]


def ttg_command(*args: str) -> list[str]:
    """The ``ttg`` command as this interpreter runs it."""
    return [sys.executable, "-m", "ttglib", *args]


def ttg_env(url: str, **extra: str) -> dict[str, str]:
    """An environment for a ttg process: our import path and the Redis URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_")}
    env["PYTHONPATH"] = str(ROOT)
    env["REDIS_URL"] = url
    env.update(extra)
    return env


def start_worker_process(
    url: str, run_id: str, worker_id: str, *args: str
) -> subprocess.Popen[str]:
    """Start ``ttg worker`` as a child process; its stderr is kept."""
    return subprocess.Popen(
        ttg_command("worker", "--run-id", run_id, "--worker-id", worker_id, *args),
        env=ttg_env(url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` every 20 ms; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def pending_owners(client: redis.Redis, stream: str, group: str) -> dict[str, str]:
    """Message id -> consumer for every pending entry."""
    entries = client.xpending_range(stream, group, min="-", max="+", count=10_000)
    return {str(e["message_id"]): str(e["consumer"]) for e in entries}
