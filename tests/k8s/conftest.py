"""Fixtures of the Kubernetes tests: a mock API server, a kubeconfig, a Redis.

There is no cluster here, so the real ``kubernetes`` client talks to kmock's
Kubernetes emulator, a real HTTP server that stores what it is sent. It runs
on its own event loop in a thread, because the client is synchronous. Each
test gets its own namespace on it, so tests never see each other's objects.

The emulator is taught the few things the launcher relies on and kmock leaves
out: label selectors on lists, pod logs, and refusals (403, missing
namespace) switched on by a test. The test then plays the controllers: it
sets the Redis StatefulSet ready, creates a Job's pods, runs each pod's
container as the kubelet would (``python -m ttglib`` with the pod's
environment), and marks pods and Jobs finished.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import kmock
import pytest
import yaml
from kmock._internal import rendering
from kubernetes import client

from ttglib.embedded import EmbeddedRedis
from ttglib.k8s import objects
from ttglib.k8s.cluster import Cluster, connect_cluster
from ttglib.k8s.launcher import KubeLauncher

REPO = Path(__file__).resolve().parents[2]
MERGE_PATCH = "application/merge-patch+json"
SERVER_VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0",
    "gitCommit": "0000000",
    "gitTreeState": "clean",
    "buildDate": "2024-08-13T00:00:00Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}
# What the launcher touches; a list of an unknown resource would be a 404.
RESOURCES = (
    "v1/namespaces",
    "v1/pods",
    "v1/secrets",
    "v1/services",
    "v1/persistentvolumeclaims",
    "apps/v1/statefulsets",
    "batch/v1/jobs",
    "networking.k8s.io/v1/networkpolicies",
)


# --- the mock API server ---------------------------------------------------------


@attrs.define(kw_only=True)
class KubeEmulator(kmock.KubernetesEmulator):
    """kmock's emulator with label selectors, pod logs and refusals on demand.

    Attributes:
        logs: ``(namespace, pod) -> text`` served as the pod's log.
        denied: ``(namespace, verb, plural)`` answered with 403, e.g.
            ``("ns", "create", "jobs")``.
        missing_namespaces: namespaces answered with a namespace 404.
    """

    logs: dict[tuple[str, str], str] = attrs.field(factory=dict)
    denied: set[tuple[str, str, str]] = attrs.field(factory=set)
    missing_namespaces: set[str] = attrs.field(factory=set)

    async def _handle(self, request: rendering.Request) -> Any:
        if request.namespace in self.missing_namespaces:
            raise kmock.KubernetesError(
                status=404,
                reason="NotFound",
                message=f'namespaces "{request.namespace}" not found',
                details={"name": request.namespace, "kind": "namespaces"},
            )
        plural = request.resource.plural if request.resource else None
        verb = {"POST": "create", "PATCH": "patch", "DELETE": "delete"}.get(
            str(request.method.value), "get"
        )
        if (request.namespace, verb, plural) in self.denied:
            raise kmock.KubernetesError(
                status=403,
                reason="Forbidden",
                message=f'{plural} is forbidden: User "tester" cannot {verb} '
                f'resource "{plural}" in namespace "{request.namespace}"',
            )
        if request.url.path.rstrip("/") == "/version":
            return aiohttp.web.json_response(SERVER_VERSION)
        if plural == "pods" and request.subresource == "log":
            return self._serve_log(request)
        if plural == "secrets" and isinstance(request.data, dict):
            encode_string_data(request.data)
        return await super()._handle(request)

    async def _serve_list(self, request: rendering.Request) -> Any:
        listing = await super()._serve_list(request)
        wanted = parse_selector(request.params.get("labelSelector", ""))
        listing["items"] = [
            item
            for item in listing["items"]
            if wanted.items()
            <= ((item.get("metadata") or {}).get("labels") or {}).items()
        ]
        return listing

    def _serve_log(self, request: rendering.Request) -> aiohttp.web.Response:
        """A pod's log as text/plain, as the API server sends it."""
        key = (str(request.namespace), str(request.name))
        if key not in self.logs:
            raise kmock.KubernetesError(
                status=400,
                reason="BadRequest",
                message=f'container "worker" in pod "{request.name}" is waiting '
                "to start: ContainerCreating",
            )
        return aiohttp.web.Response(text=self.logs[key], content_type="text/plain")


def encode_string_data(secret: dict[str, Any]) -> None:
    """Move a Secret's ``stringData`` into ``data``, base64-encoded, as the API does."""
    plain = secret.pop("stringData", None) or {}
    encoded = {
        key: base64.b64encode(value.encode()).decode() for key, value in plain.items()
    }
    secret["data"] = {**(secret.get("data") or {}), **encoded}


def parse_selector(text: str) -> dict[str, str]:
    """``a=b,c=d`` -> ``{"a": "b", "c": "d"}`` (equality selectors only)."""
    pairs = [part.split("=", 1) for part in text.split(",") if part]
    return {key: value for key, value in pairs}


@dataclass
class MockServer:
    """The emulator on a loopback port, served from a thread's event loop."""

    handler: KubeEmulator | None = None
    url: str = ""
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _ready: threading.Event = field(default_factory=threading.Event)
    _stop: asyncio.Event | None = None
    _thread: threading.Thread | None = None

    def start(self) -> MockServer:
        self._thread = threading.Thread(target=self._serve, name="kmock", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the mock API server did not start")
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
        self._loop.close()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with KubeEmulator() as handler, kmock.Server(handler) as server:
            for resource in RESOURCES:
                handler.resources[resource] = {
                    "namespaced": resource != "v1/namespaces"
                }
            self.handler = handler
            self.url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()


@pytest.fixture(scope="package")
def mock_server() -> Iterator[MockServer]:
    """One mock API server for every test of this folder."""
    server = MockServer().start()
    yield server
    server.stop()


@pytest.fixture
def namespace(mock_server: MockServer) -> Iterator[str]:
    """A fresh namespace for one test; refusals and logs are reset after it."""
    name = f"ttg-test-{uuid.uuid4().hex[:8]}"
    yield name
    handler = mock_server.handler
    assert handler is not None
    handler.denied = {entry for entry in handler.denied if entry[0] != name}
    handler.missing_namespaces.discard(name)
    handler.logs = {key: text for key, text in handler.logs.items() if key[0] != name}


@pytest.fixture
def emulator(mock_server: MockServer) -> KubeEmulator:
    """The emulator itself, to switch refusals on and feed logs."""
    assert mock_server.handler is not None
    return mock_server.handler


def write_kubeconfig(path: Path, server: str, namespace: str | None) -> Path:
    """A kubeconfig with one context, ``mock``, pointing at ``server``."""
    context: dict[str, str] = {"cluster": "mock", "user": "tester"}
    if namespace:
        context["namespace"] = namespace
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "mock", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": "not-a-secret"}}],
        "contexts": [{"name": "mock", "context": context}],
        "current-context": "mock",
    }
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@pytest.fixture
def kubeconfig(tmp_path: Path, mock_server: MockServer, namespace: str) -> Path:
    """A kubeconfig whose current context is the mock server and the test's namespace."""
    return write_kubeconfig(tmp_path / "kubeconfig", mock_server.url, namespace)


@pytest.fixture
def cluster(kubeconfig: Path) -> Cluster:
    """API clients configured through the real kubeconfig loader."""
    return connect_cluster(kubeconfig=str(kubeconfig))


@pytest.fixture
def launcher(cluster: Cluster) -> KubeLauncher:
    """A launcher that polls quickly."""
    return KubeLauncher(cluster, poll_seconds=0.05)


# --- the test as the cluster's controllers -----------------------------------------


class Controllers:
    """The parts of a cluster that the test plays, through a client of its own."""

    def __init__(self, server: MockServer, namespace: str) -> None:
        configuration = client.Configuration()
        configuration.host = server.url
        api = client.ApiClient(configuration)
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.namespace = namespace
        self.server = server

    def redis_ready(self) -> None:
        """The StatefulSet controller's part: one ready replica."""
        self.apps.patch_namespaced_stateful_set_status(
            objects.REDIS_NAME,
            self.namespace,
            {"status": {"replicas": 1, "readyReplicas": 1}},
            _content_type=MERGE_PATCH,
        )

    def password(self) -> str:
        """The Redis password that the launcher put in the Secret."""
        secret = self.core.read_namespaced_secret(objects.REDIS_SECRET, self.namespace)
        encoded = (secret.data or {})[objects.REDIS_SECRET_KEY]
        return base64.b64decode(encoded).decode()

    def job(self, name: str, timeout: float = 10.0) -> client.V1Job:
        """Wait for a Job to be created, and return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.batch.list_namespaced_job(self.namespace).items
            for job in found:
                if objects.name_of(job) == name:
                    return job
            time.sleep(0.02)
        raise AssertionError(f"job {name} was never created")

    def start_pods(self, job: client.V1Job, phase: str = "Running") -> list[str]:
        """The Job controller's part: one pod per completion index."""
        names = []
        spec = job.spec
        assert spec is not None and spec.completions is not None
        labels = dict(
            (spec.template.metadata.labels if spec.template.metadata else {}) or {}
        )
        labels["batch.kubernetes.io/job-name"] = objects.name_of(job)
        for index in range(spec.completions):
            name = f"{objects.name_of(job)}-{index}-{uuid.uuid4().hex[:5]}"
            pod = {
                "metadata": {
                    "name": name,
                    "labels": labels,
                    "annotations": {
                        "batch.kubernetes.io/job-completion-index": str(index)
                    },
                },
                "spec": {"containers": [{"name": "worker", "image": "x"}]},
                "status": {"phase": phase},
            }
            self.core.create_namespaced_pod(self.namespace, pod)
            names.append(name)
        self.batch.patch_namespaced_job_status(
            objects.name_of(job),
            self.namespace,
            {"status": {"active": spec.completions}},
            _content_type=MERGE_PATCH,
        )
        return names

    def set_pod(self, name: str, status: dict[str, Any]) -> None:
        """Change a pod's status as the kubelet would."""
        self.core.patch_namespaced_pod_status(
            name, self.namespace, {"status": status}, _content_type=MERGE_PATCH
        )

    def finish(
        self, job: client.V1Job, condition: str = "Complete", **detail: str
    ) -> None:
        """End a Job with a condition: ``Complete``, or ``Failed`` with a reason."""
        workers = job.spec.completions if job.spec else 0
        counts = {"succeeded": workers} if condition == "Complete" else {"failed": 1}
        self.batch.patch_namespaced_job_status(
            objects.name_of(job),
            self.namespace,
            {
                "status": {
                    "active": 0,
                    **counts,
                    "conditions": [{"type": condition, "status": "True", **detail}],
                }
            },
            _content_type=MERGE_PATCH,
        )

    def run_workers(
        self, job: client.V1Job, redis_port: int, password: str
    ) -> list[subprocess.Popen[bytes]]:
        """The kubelet's part: run each pod's worker container on this machine.

        The command and the environment are the Job's own, with the Secret
        and the completion index resolved; only ``REDIS_HOST``/``REDIS_PORT``
        point at the local Redis instead of the Service.
        """
        spec = job.spec
        assert spec is not None and spec.completions is not None
        container = objects.pod_spec(job).containers[0]
        processes = []
        for index in range(spec.completions):
            environment = container_env(container, password, index)
            environment.update(REDIS_HOST="127.0.0.1", REDIS_PORT=str(redis_port))
            command = [*(container.command or []), *(container.args or [])]
            assert command[0] == "ttg"
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "ttglib", *command[1:], "--quiet"],
                    env={**os.environ, **environment, "PYTHONPATH": str(REPO)},
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
        return processes


def wait_for(processes: list[subprocess.Popen[bytes]], timeout: float = 60) -> None:
    """Wait for worker processes; fail with a worker's stderr if it failed."""
    for process in processes:
        _out, err = process.communicate(timeout=timeout)
        assert process.returncode == 0, err.decode(errors="replace")


def container_env(
    container: client.V1Container, password: str, index: int
) -> dict[str, str]:
    """A container's variables as the kubelet sets them."""
    resolved = {}
    for variable in container.env or []:
        source = variable.value_from
        if variable.value is not None:
            resolved[variable.name] = variable.value
        elif source is not None and source.secret_key_ref is not None:
            assert source.secret_key_ref.name == objects.REDIS_SECRET
            resolved[variable.name] = password
        elif source is not None and source.field_ref is not None:
            assert source.field_ref.field_path == objects.COMPLETION_INDEX
            resolved[variable.name] = str(index)
    return resolved


@pytest.fixture
def controllers(mock_server: MockServer, namespace: str) -> Controllers:
    """The test's hand on the cluster's controllers."""
    return Controllers(mock_server, namespace)


# --- Redis ---------------------------------------------------------------------------


@pytest.fixture
def private_redis() -> Iterator[EmbeddedRedis]:
    """A redis-server of one test's own, free to be given the Secret's password."""
    with EmbeddedRedis() as server:
        yield server


def in_thread(function: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run ``function`` in a thread; its result or error lands in the dict."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = function()
        except BaseException as error:  # handed to the test thread
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome
