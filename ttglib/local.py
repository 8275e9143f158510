"""Run a sweep on this machine: a Redis, W worker processes, a progress bar.

:class:`LocalRunner` owns a Redis connection (an embedded server unless an
address is given) and runs any number of runs on it, each with its own worker
processes::

    with LocalRunner() as runner:
        outcome = runner.run(RunSpec("demo", total_params=10_000, workers=3))
        print(outcome.report.render_text())

Workers are started first and the run is submitted once all of them are
waiting, so they start together and the report's wall clock measures the
sweep, not Python's start-up.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import TracebackType

import redis

from ttglib.chunks import with_measured_pilot
from ttglib.config import RedisSettings, RunSpec, WorkerSettings
from ttglib.connection import connect
from ttglib.embedded import EmbeddedRedis, die_with_parent
from ttglib.errors import WorkerFailedError
from ttglib.queue import RunQueue
from ttglib.report import Report, build_report
from ttglib.status import QueueSample, sample_queue
from ttglib.workloads import resolve_task

logger = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 120.0
# Variables that describe one run or one worker; each worker gets its own options.
RUN_VARIABLES = (
    "USE_QUEUE",
    "TTG_RUN_ID",
    "WORKER_ID",
    "WORKER_ID_OFFSET",
    "TOTAL_PARAMS",
    "CHUNK_SIZE",
    "SIMULATE_WORK_MS",
    "IDLE_TIMEOUT_SECONDS",
)


def new_run_id() -> str:
    """A fresh run id: ``run-<UTC date>-<time>-<4 hex>``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"run-{stamp}-{secrets.token_hex(2)}"


@dataclass
class RunOutcome:
    """What :meth:`LocalRunner.run` gives back.

    Attributes:
        run_id: the run.
        report: its aggregation report.
        samples: queue figures sampled while it ran.
        exit_codes: each worker process's exit code (-9 for one killed on purpose).
        killed: indexes of workers killed on purpose.
        killed_at: when the kill was sent (unix seconds), if one was.
    """

    run_id: str
    report: Report
    samples: list[QueueSample] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)
    killed: list[int] = field(default_factory=list)
    killed_at: float | None = None

    @property
    def failed_workers(self) -> list[int]:
        """Indexes of workers that exited non-zero without being killed on purpose."""
        return [
            index
            for index, code in enumerate(self.exit_codes)
            if code != 0 and index not in self.killed
        ]


class LocalRunner:
    """A Redis and local worker processes, for one or many runs.

    Args:
        redis_settings: an external Redis; None starts an embedded one.
        worker_log_level: the workers' log level.
    """

    def __init__(
        self,
        redis_settings: RedisSettings | None = None,
        worker_log_level: str = "WARNING",
    ) -> None:
        self.embedded: EmbeddedRedis | None = None
        self.settings = redis_settings
        self.worker_log_level = worker_log_level
        self._client: redis.Redis | None = None
        self.redis_version = ""

    def __enter__(self) -> LocalRunner:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> LocalRunner:
        """Start the embedded Redis if needed and connect."""
        if self.settings is None:
            self.embedded = EmbeddedRedis().start()
            self.settings = self.embedded.settings
        self._client = connect(self.settings)
        self.redis_version = str(self._client.info("server").get("redis_version", ""))
        return self

    def close(self) -> None:
        """Disconnect and stop the embedded Redis, if any."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None

    @property
    def client(self) -> redis.Redis:
        """The connected client."""
        if self._client is None:
            self.start()
        assert self._client is not None
        return self._client

    def run(
        self,
        spec: RunSpec,
        options: WorkerSettings | None = None,
        *,
        progress: bool = False,
        kill_worker_after: float | None = None,
        sample_seconds: float = 0.2,
    ) -> RunOutcome:
        """Start ``spec.workers`` workers, submit the run, follow it, report.

        An ``adaptive`` run has its task function timed first
        (:func:`~ttglib.chunks.with_measured_pilot`), so its chunks follow
        the measured cost.

        Args:
            options: worker settings; ``run_id`` and ``worker_id`` are set here.
                By default the spec's task and ``work_ms``, and defaults else.
            progress: show a progress bar (a widget in JupyterLab).
            kill_worker_after: SIGKILL worker 0 this many seconds after submit.
            sample_seconds: how often queue figures are sampled.

        Raises:
            WorkerFailedError: workers did not start.
        """
        options = options or WorkerSettings(
            run_id=spec.run_id, task=spec.task, work_ms=spec.work_ms
        )
        spec = with_measured_pilot(spec, resolve_task(options.task))
        processes = [self._spawn(spec, options, index) for index in range(spec.workers)]
        try:
            self._wait_ready(spec, processes)
            RunQueue(self.client, spec.run_id).submit(spec)
            follow = Follower(self.client, spec, processes, sample_seconds)
            follow.watch(progress, kill_worker_after)
        except BaseException:
            stop_processes(processes, options.grace_seconds)
            raise
        report = build_report(self.client, spec.run_id)
        return RunOutcome(
            spec.run_id,
            report,
            follow.samples,
            [process.returncode for process in processes],
            follow.killed,
            follow.killed_at,
        )

    def _spawn(
        self, spec: RunSpec, options: WorkerSettings, index: int
    ) -> subprocess.Popen[bytes]:
        assert self.settings is not None
        command = [
            sys.executable,
            "-m",
            "ttglib",
            "--log-level",
            self.worker_log_level,
            "worker",
            "--run-id",
            spec.run_id,
            "--worker-id",
            str(index),
            "--task",
            options.task,
            "--work-ms",
            repr(options.work_ms),
            "--lease-seconds",
            repr(options.lease_seconds),
            "--max-attempts",
            str(options.max_attempts),
            "--idle-timeout",
            repr(options.idle_timeout_seconds),
            "--grace-seconds",
            repr(options.grace_seconds),
            "--max-batch",
            str(options.max_batch),
            "--quiet",
        ]
        if options.store_values:
            command.append("--store-values")
        return subprocess.Popen(
            command,
            env=worker_environment(self.settings),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )

    def _wait_ready(
        self, spec: RunSpec, processes: list[subprocess.Popen[bytes]]
    ) -> None:
        """Wait until every worker has announced itself as waiting for the run."""
        queue = RunQueue(self.client, spec.run_id)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            exited = [p.returncode for p in processes if p.poll() is not None]
            if exited:
                raise WorkerFailedError(
                    f"a worker exited at start with code {exited[0]} "
                    "(its error is above)"
                )
            if len(queue.workers()) >= len(processes):
                return
            time.sleep(0.01)
        raise WorkerFailedError(
            f"workers were not ready within {READY_TIMEOUT_SECONDS:.0f} s"
        )


class Follower:
    """Follows a run: samples its queue, draws progress, kills on request."""

    def __init__(
        self,
        client: redis.Redis,
        spec: RunSpec,
        processes: list[subprocess.Popen[bytes]],
        sample_seconds: float,
    ) -> None:
        self.client = client
        self.queue = RunQueue(client, spec.run_id)
        self.spec = spec
        self.processes = processes
        self.sample_seconds = sample_seconds
        self.samples: list[QueueSample] = []
        self.killed: list[int] = []
        self.killed_at: float | None = None

    def watch(self, progress: bool, kill_after: float | None) -> None:
        """Sample until every worker process has exited."""
        from tqdm.auto import tqdm

        started = time.monotonic()
        with tqdm(
            total=self.spec.total_params,
            unit="param",
            unit_scale=True,
            disable=not progress,
            desc=self.spec.run_id,
        ) as bar:
            while True:
                sample = self._sample(started)
                if sample is not None:
                    self.samples.append(sample)
                    bar.update(sample.params_done - bar.n)
                overdue = (
                    kill_after is not None and time.monotonic() - started >= kill_after
                )
                if overdue and not self.killed:
                    self._kill(0)
                if all(process.poll() is not None for process in self.processes):
                    break
                time.sleep(self.sample_seconds)
            final = self._sample(started)
            if final is not None:
                self.samples.append(final)
                bar.update(final.params_done - bar.n)

    def _sample(self, started: float) -> QueueSample | None:
        """One sample, or None while Redis is unreachable (the workers retry)."""
        try:
            return sample_queue(self.queue, started)
        except (redis.ConnectionError, redis.TimeoutError) as error:
            logger.warning("cannot sample the queue: %s", error)
            return None

    def _kill(self, index: int) -> None:
        process = self.processes[index]
        if process.poll() is None:
            self.killed_at = time.time()
            process.send_signal(signal.SIGKILL)
            logger.warning("killed worker %d (pid %d) on request", index, process.pid)
        self.killed.append(index)


def stop_processes(processes: list[subprocess.Popen[bytes]], grace: float) -> None:
    """SIGTERM every live worker, then SIGKILL those still alive after the grace."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace + 5
    for process in processes:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def worker_environment(settings: RedisSettings) -> dict[str, str]:
    """The workers' environment: the Redis URL (with any password) and our path.

    The password travels in the environment, never on the command line.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("REDIS_") and name not in RUN_VARIABLES
    }
    env["REDIS_URL"] = settings.url_with_password()
    if settings.password is not None:
        env["REDIS_PASSWORD"] = settings.password
    if settings.tls_ca_cert is not None:
        env["REDIS_TLS_CA_CERT"] = settings.tls_ca_cert
    env["PYTHONPATH"] = os.pathsep.join(path for path in sys.path if path)
    return env
