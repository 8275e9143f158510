"""Many runs on a cluster in a row: the sweeps the notebooks chart.

:func:`probe_cluster` tells whether a cluster answers, without raising, so a
notebook can fall back to showing manifests. :class:`ClusterRunner` holds one
Redis connection (one port-forward) open across runs, and
:func:`run_cluster_sweep` runs every configuration of a
:class:`~ttglib.experiments.SweepGrid` as its own Job and returns the same
table as a local sweep.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any

import redis

from ttglib.config import RunSpec, WorkerSettings
from ttglib.errors import UsageError
from ttglib.k8s import objects
from ttglib.k8s.errors import KubernetesError
from ttglib.k8s.launcher import KubeLauncher, ProgressCallback
from ttglib.queue import RunQueue
from ttglib.report import Report, build_report

if TYPE_CHECKING:
    import pandas as pd

    from ttglib.experiments import SweepGrid

logger = logging.getLogger(__name__)


def probe_cluster(
    context: str | None = None,
    namespace: str | None = None,
    *,
    kubeconfig: str | None = None,
    **options: Any,
) -> tuple[KubeLauncher | None, str]:
    """A launcher if a cluster answers, and a sentence saying what was found.

    For notebooks, which fall back to rendering manifests when there is no
    cluster: nothing is raised for a missing or unreachable cluster.
    """
    try:
        launcher = KubeLauncher.connect(
            context, namespace, kubeconfig=kubeconfig, **options
        )
        version = launcher.server_version()
    except KubernetesError as error:
        return None, f"No Kubernetes cluster is reachable: {error}."
    where = launcher.cluster.describe()
    return launcher, (
        f"Kubernetes {version} is reachable ({where}); namespace {launcher.namespace}."
    )


class ClusterRunner:
    """A launcher with one Redis connection held open, for runs in a row.

    Args:
        launcher: the launcher.
        options: the pods' image and resources for every run.
    """

    def __init__(
        self, launcher: KubeLauncher, options: objects.JobOptions | None = None
    ) -> None:
        self.launcher = launcher
        self.options = options or objects.JobOptions()
        self._scope = ExitStack()
        self._client: redis.Redis | None = None

    def __enter__(self) -> ClusterRunner:
        self._client = self._scope.enter_context(self.launcher.redis_client())
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._client = None
        self._scope.close()

    @property
    def client(self) -> redis.Redis:
        """The open Redis client."""
        if self._client is None:
            raise UsageError("use the ClusterRunner in a 'with' block")
        return self._client

    def run(
        self,
        spec: RunSpec,
        settings: WorkerSettings | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> Report:
        """Run one spec to its report; ``settings`` override the pods' options."""
        options = self.options
        if settings is not None:
            options = replace(
                options,
                lease_seconds=settings.lease_seconds,
                grace_seconds=settings.grace_seconds,
                idle_timeout_seconds=settings.idle_timeout_seconds,
                max_attempts=settings.max_attempts,
            )
        queue = RunQueue(self.client, spec.run_id)
        self.launcher.launch(queue, spec, options)
        for snapshot in self.launcher.follow(queue, spec.run_id, timeout=timeout):
            if on_progress is not None:
                on_progress(snapshot)
        return build_report(self.client, spec.run_id)


def run_cluster_sweep(
    runner: ClusterRunner,
    grid: SweepGrid,
    *,
    sweep_id: str | None = None,
    keep_runs: bool = False,
    on_progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Run every configuration of ``grid`` on the cluster; the same table as locally.

    Each configuration is one run with its own Job. Unless ``keep_runs``, a
    run's Job and keys are deleted once its row is taken.

    Note:
        Wall time runs from the first chunk's start to the last chunk's end,
        so pod start-up is left out; workers are released together once all
        of them are up, as in local sweeps.
    """
    from ttglib.experiments import new_sweep_id, sweep_row, table_from_rows

    sweep_id = sweep_id or new_sweep_id()
    rows = []
    for index, configuration in enumerate(grid.configurations()):
        run_id = f"{sweep_id}-{index:04d}"
        spec = configuration.spec(run_id, grid.total_params, grid.work_ms, grid.task)
        report = runner.run(spec, on_progress=on_progress)
        rows.append(sweep_row(configuration, report, sweep_id))
        if not keep_runs:
            forget(runner, run_id)
        logger.info(
            "sweep=%s run=%s params_per_second=%.0f",
            sweep_id,
            run_id,
            report.params_per_second,
        )
    return table_from_rows(rows)


def forget(runner: ClusterRunner, run_id: str) -> None:
    """Delete a finished run's Jobs, then its keys, once its workers have left."""
    patience = runner.options.idle_timeout_seconds + runner.options.grace_seconds
    if not runner.launcher.wait_for_workers_to_exit(run_id, patience):
        logger.warning("run=%s workers still running after %.0f s", run_id, patience)
    runner.launcher.delete_run(run_id)
    RunQueue(runner.client, run_id).delete()
