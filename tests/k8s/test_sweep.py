"""Sweeps on a cluster, as notebook 05 runs them, against the mock API server."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import pytest
import redis
import yaml
from kubernetes.client.exceptions import ApiException

from ttglib.embedded import EmbeddedRedis, free_port
from ttglib.experiments import SweepGrid
from ttglib.k8s import objects
from ttglib.k8s.launcher import KubeLauncher
from ttglib.k8s.render import sweep_manifests
from ttglib.k8s.sweep import ClusterRunner, probe_cluster, run_cluster_sweep
from ttglib.queue import list_runs

from .conftest import Controllers, wait_for, write_kubeconfig

FAST = objects.JobOptions(idle_timeout_seconds=10, lease_seconds=2, grace_seconds=1)


def test_probe_finds_the_cluster(kubeconfig: Path, namespace: str) -> None:
    launcher, found = probe_cluster(kubeconfig=str(kubeconfig))

    assert launcher is not None
    assert found.startswith("Kubernetes v1.")
    assert f"namespace {namespace}" in found


def test_probe_explains_a_missing_cluster(tmp_path: Path) -> None:
    config = write_kubeconfig(
        tmp_path / "config", f"http://127.0.0.1:{free_port()}", "x"
    )

    launcher, found = probe_cluster(kubeconfig=str(config))

    assert launcher is None
    assert found.startswith("No Kubernetes cluster is reachable: cannot reach")


class Kubelet(threading.Thread):
    """Runs the workers of every Job that appears, until stopped."""

    def __init__(self, controllers: Controllers, port: int, password: str) -> None:
        super().__init__(daemon=True)
        self.controllers, self.port, self.password = controllers, port, password
        self.stopping = threading.Event()
        self.started_jobs: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                for job in self.controllers.batch.list_namespaced_job(
                    self.controllers.namespace
                ).items:
                    name = objects.name_of(job)
                    if name in self.started_jobs:
                        continue
                    self.started_jobs.append(name)
                    self.controllers.start_pods(job)
                    wait_for(
                        self.controllers.run_workers(job, self.port, self.password)
                    )
                    with contextlib.suppress(ApiException):  # the sweep may delete it
                        self.controllers.finish(job)
                time.sleep(0.02)
        except BaseException as error:  # handed to the test
            self.error = error


def test_sweep_runs_each_configuration_as_a_job(
    launcher: KubeLauncher, controllers: Controllers, private_redis: EmbeddedRedis
) -> None:
    launcher.up(wait_seconds=None)
    password = controllers.password()
    redis.Redis(port=private_redis.port).config_set("requirepass", password)
    local = KubeLauncher(
        launcher.cluster, poll_seconds=0.05, redis_url=private_redis.url
    )
    grid = SweepGrid(total_params=600, work_ms=0, chunk_sizes=[100, 300], workers=[1])
    kubelet = Kubelet(controllers, private_redis.port, password)
    kubelet.start()

    try:
        with ClusterRunner(local, FAST) as runner:
            table = run_cluster_sweep(runner, grid, sweep_id="sw")
            left = list_runs(runner.client)
    finally:
        kubelet.stopping.set()
        kubelet.join(30)

    assert kubelet.error is None, kubelet.error
    assert kubelet.started_jobs == ["ttg-sw-0000", "ttg-sw-0001"]
    assert list(table["chunk_size"]) == [100, 300]
    assert list(table["chunks"]) == [6, 2]
    assert table["verified"].all()
    assert left == []
    assert launcher.jobs("sw-0000") == []


def test_runner_needs_its_with_block(launcher: KubeLauncher) -> None:
    from ttglib.errors import UsageError

    with pytest.raises(UsageError, match="with"):
        ClusterRunner(launcher).client  # noqa: B018


def test_sweep_manifests_name_every_run() -> None:
    grid = SweepGrid(total_params=1_000, chunk_sizes=[10, 100], workers=[2], repeats=2)

    documents = list(yaml.safe_load_all(sweep_manifests(grid, FAST, sweep_id="plan")))

    kinds = [doc["kind"] for doc in documents]
    assert kinds == ["Service", "StatefulSet", "NetworkPolicy"] + ["Job"] * 4
    names = [doc["metadata"]["name"] for doc in documents[3:]]
    assert names == [f"ttg-plan-{index:04d}" for index in range(4)]
    assert documents[3]["spec"]["completions"] == 2
