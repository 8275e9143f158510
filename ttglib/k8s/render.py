"""Turn the objects of :mod:`ttglib.k8s.objects` into YAML manifests.

The client's own ``ApiClient.sanitize_for_serialization`` turns an object into
the JSON the API server would receive (camelCase keys, no empty fields), so a
rendered file and a launcher request carry the same thing.

:func:`manifest_files` lays out the files of the ``k8s/`` folder at the
original system's paths::

    kind-config.yaml                    kind cluster "ttg-sandbox"
    manifests/redis.yaml                Service ttg-redis, StatefulSet, NetworkPolicy
    manifests/parallel-jobs-queue.yaml  Job ttg-computation-queue (queue mode)
    manifests/parallel-jobs.yaml        Job ttg-computation (static mode)

The Redis password Secret is never rendered: a password does not belong in a
file that gets committed. ``ttg k8s up`` creates it, or ``kubectl create
secret`` as the header of ``redis.yaml`` shows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from kubernetes.client import ApiClient

from ttglib import __version__
from ttglib.config import Mode, RunSpec
from ttglib.k8s import objects

if TYPE_CHECKING:
    from ttglib.experiments import SweepGrid

logger = logging.getLogger(__name__)

KIND_CLUSTER = "ttg-sandbox"
QUEUE_JOB = "ttg-computation-queue"
STATIC_JOB = "ttg-computation"

REDIS_FILE = "manifests/redis.yaml"
QUEUE_FILE = "manifests/parallel-jobs-queue.yaml"
STATIC_FILE = "manifests/parallel-jobs.yaml"
KIND_FILE = "kind-config.yaml"


@dataclass(frozen=True)
class RenderOptions:
    """What the rendered worker Jobs run; the defaults are the reference sweep.

    Attributes:
        workers: completions and parallelism of each Job.
        total_params: ``TOTAL_PARAMS``.
        chunk_size: ``CHUNK_SIZE``.
        work_ms: ``SIMULATE_WORK_MS``.
        job: image, resources and worker options.
        redis: the Redis StatefulSet's sizing.
    """

    workers: int = 3
    total_params: int = 10_000
    chunk_size: int = 100
    work_ms: float = 1.0
    job: objects.JobOptions = field(
        default_factory=lambda: objects.JobOptions(submit_in_pod=True)
    )
    redis: objects.RedisOptions = field(default_factory=objects.RedisOptions)

    def spec(self, run_id: str, mode: Mode) -> RunSpec:
        """The run one of the rendered Jobs submits; its id is the Job's name."""
        return RunSpec(
            run_id=run_id,
            total_params=self.total_params,
            chunk_size=self.chunk_size,
            mode=mode,
            workers=self.workers,
            work_ms=self.work_ms,
        )


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings, and no anchors for repeated values."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_str)


def to_plain(obj: object) -> dict[str, Any]:
    """The JSON form of a client object, as the API server receives it."""
    # The client leaves this method unannotated; it returns plain JSON types.
    sanitize = ApiClient().sanitize_for_serialization
    plain: dict[str, Any] = sanitize(obj)  # type: ignore[no-untyped-call]
    return plain


def to_yaml(items: Iterable[object]) -> str:
    """One YAML document per object, separated by ``---``."""
    documents = [
        yaml.dump(to_plain(item), Dumper=_Dumper, sort_keys=False, width=88)
        for item in items
    ]
    return "---\n".join(documents)


def header(*lines: str) -> str:
    """A comment block naming where the file comes from, then ``lines``."""
    intro = [
        f"Rendered by 'ttg k8s render' (ttglib {__version__}) from",
        "ttglib/k8s/objects.py. Edit the code and render again; a test fails",
        "when this file and the code disagree.",
    ]
    return "".join(f"# {line}".rstrip() + "\n" for line in [*intro, "", *lines])


def redis_manifest(options: RenderOptions) -> str:
    """``redis.yaml``: the Service, the StatefulSet and the NetworkPolicy."""
    notes = header(
        "Redis for ttg workers. It needs the Secret ttg-redis-auth first:",
        "  kubectl create secret generic ttg-redis-auth \\",
        "    --from-literal=password=\"$(python3 -c 'import secrets; "
        "print(secrets.token_urlsafe(32))')\"",
        "('ttg k8s up' creates the Secret and applies this file for you.)",
        "Then: kubectl apply -f k8s/manifests/redis.yaml",
    )
    items = [
        objects.redis_service(),
        objects.redis_statefulset(options.redis),
        objects.redis_network_policy(),
    ]
    return notes + to_yaml(items)


def queue_manifest(options: RenderOptions) -> str:
    """``parallel-jobs-queue.yaml``: the queue-mode Job."""
    notes = header(
        "Queue-mode workers. Each pod first runs 'ttg submit' (idempotent), then",
        "'ttg worker'. completions and parallelism are the worker count. The run's",
        "variables appear in both containers: change them together, and give a",
        "new TTG_RUN_ID to start a new run.",
        "  kubectl apply -f k8s/manifests/parallel-jobs-queue.yaml",
        "  kubectl get pods -l ttg.io/mode=queue -w",
    )
    spec = options.spec(QUEUE_JOB, "queue")
    return notes + to_yaml([objects.worker_job(spec, options.job, name=QUEUE_JOB)])


def static_manifest(options: RenderOptions) -> str:
    """``parallel-jobs.yaml``: the static-mode Job (a fixed range per worker)."""
    notes = header(
        "Static-mode workers (the v1.1 baseline): worker i computes the i-th",
        "share of the range. completions, parallelism and 'submit --workers'",
        "must agree. The run's variables appear in both containers.",
        "  kubectl apply -f k8s/manifests/parallel-jobs.yaml",
    )
    spec = options.spec(STATIC_JOB, "static")
    return notes + to_yaml([objects.worker_job(spec, options.job, name=STATIC_JOB)])


def kind_config() -> str:
    """A one-node kind cluster named ``ttg-sandbox``."""
    notes = header(
        "A local cluster for ttg:",
        "  kind create cluster --config k8s/kind-config.yaml",
        "Its kubeconfig context is kind-ttg-sandbox.",
    )
    config = {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "name": KIND_CLUSTER,
        "nodes": [{"role": "control-plane"}],
    }
    return notes + yaml.dump(config, Dumper=_Dumper, sort_keys=False)


def run_manifests(
    specs: Iterable[RunSpec],
    job: objects.JobOptions | None = None,
    redis: objects.RedisOptions | None = None,
) -> str:
    """What the launcher applies for ``specs``: Redis, then one Job per run.

    The Secret is left out, as in every rendered file.
    """
    items: list[object] = [
        objects.redis_service(),
        objects.redis_statefulset(redis),
        objects.redis_network_policy(),
    ]
    items += [objects.worker_job(spec, job) for spec in specs]
    return to_yaml(items)


def sweep_manifests(
    grid: SweepGrid,
    job: objects.JobOptions | None = None,
    sweep_id: str = "sweep",
) -> str:
    """What a cluster sweep of ``grid`` applies: Redis, then each run's Job.

    The run ids follow :func:`~ttglib.k8s.launcher.run_cluster_sweep`'s
    pattern, ``<sweep_id>-<index>``.
    """
    specs = [
        configuration.spec(
            f"{sweep_id}-{index:04d}", grid.total_params, grid.work_ms, grid.task
        )
        for index, configuration in enumerate(grid.configurations())
    ]
    return run_manifests(specs, job)


def manifest_files(options: RenderOptions | None = None) -> dict[str, str]:
    """Every file of the ``k8s/`` folder: relative path -> content."""
    options = options or RenderOptions()
    return {
        KIND_FILE: kind_config(),
        REDIS_FILE: redis_manifest(options),
        QUEUE_FILE: queue_manifest(options),
        STATIC_FILE: static_manifest(options),
    }


def write_manifests(
    directory: Path, options: RenderOptions | None = None
) -> list[Path]:
    """Write :func:`manifest_files` under ``directory``; return the paths written."""
    written = []
    for relative, text in manifest_files(options).items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
        logger.debug("wrote %s", path)
    return written
