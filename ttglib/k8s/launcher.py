"""Launch runs on Kubernetes and follow them: the Python side of ``ttg k8s``.

:class:`KubeLauncher` does, through the Kubernetes API only (no kubectl):

- :meth:`~KubeLauncher.up`: the Redis Secret (a fresh password, kept if one
  exists), Service, StatefulSet and NetworkPolicy; :meth:`~KubeLauncher.down`
  removes them and every worker Job;
- :meth:`~KubeLauncher.run`: create the run's worker Job, submit the run once
  its workers are up, follow pods and queue together until the queue says the
  run is finished, and return the report;
- :meth:`~KubeLauncher.scale`: add workers to a running run with another Job;
- :meth:`~KubeLauncher.logs`: the logs of a run's pods.

The launcher reaches Redis through a port-forward to ``ttg-redis-0`` (or the
Service's address when it runs inside the cluster, or any ``redis_url``
given), with the password read from the Secret. A run is complete when its
queue says so: a Job's status only tells that its pods ended.

Example:
    >>> launcher = KubeLauncher.connect(context="kind-ttg-sandbox")  # doctest: +SKIP
    >>> launcher.up()                                                # doctest: +SKIP
    >>> report = launcher.run(RunSpec("demo", workers=3))            # doctest: +SKIP
    >>> print(report.render_text())                                  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ttglib.config import RedisSettings, RunSpec
from ttglib.connection import connect
from ttglib.errors import UsageError
from ttglib.k8s import objects
from ttglib.k8s.cluster import Cluster, connect_cluster
from ttglib.k8s.errors import (
    AlreadyExistsError,
    ClusterUnavailableError,
    FollowTimeoutError,
    JobFailedError,
    KubernetesError,
    PermissionDeniedError,
    RedisNotDeployedError,
    RunJobNotFoundError,
)
from ttglib.k8s.observe import JobState, PodState, Snapshot, check_jobs, check_pods
from ttglib.k8s.portforward import PortForward, pod_opener
from ttglib.k8s.render import to_plain
from ttglib.queue import RunQueue, SubmitOutcome
from ttglib.report import Report, build_report

logger = logging.getLogger(__name__)

POLL_SECONDS = 2.0
REDIS_READY_SECONDS = 180.0
# How long to wait for the first worker to announce itself before submitting.
START_SECONDS = 300.0
# How long a follow rides out an unreachable API server or Redis.
PATIENCE_SECONDS = 60.0
PASSWORD_BYTES = 32
# Names a scale-up tries after the first one is taken by a concurrent scale-up.
SCALE_NAME_TRIES = 20
STRATEGIC_MERGE = "application/strategic-merge-patch+json"


@dataclass(frozen=True)
class UpOutcome:
    """What :meth:`KubeLauncher.up` did."""

    namespace: str
    secret_created: bool
    applied: tuple[str, ...]


@dataclass(frozen=True)
class PodLog:
    """The log of one worker pod (``text`` says why when there is none)."""

    pod: str
    text: str


ProgressCallback = Callable[[Snapshot], None]


# --- the launcher ----------------------------------------------------------------


class KubeLauncher:
    """Deploy Redis, start and follow runs, scale them, read their logs.

    Args:
        cluster: the API clients and namespace, from
            :func:`~ttglib.k8s.cluster.connect_cluster`.
        poll_seconds: how often pods, Jobs and the queue are read.
        redis_url: reach Redis here instead of through a port-forward (for
            example a ``kubectl port-forward`` of your own, or the Service's
            address from inside the cluster); the password still comes from
            the Secret.
    """

    def __init__(
        self,
        cluster: Cluster,
        *,
        poll_seconds: float = POLL_SECONDS,
        redis_url: str | None = None,
    ) -> None:
        self.cluster = cluster
        self.poll_seconds = poll_seconds
        self.redis_url = redis_url

    @classmethod
    def connect(
        cls,
        context: str | None = None,
        namespace: str | None = None,
        *,
        kubeconfig: str | None = None,
        **options: Any,
    ) -> KubeLauncher:
        """A launcher for a kubeconfig context (or the pod's own cluster).

        Raises:
            ClusterUnavailableError: no kubeconfig, or no such context.
        """
        return cls(connect_cluster(context, namespace, kubeconfig), **options)

    @property
    def namespace(self) -> str:
        """The namespace every object goes to."""
        return self.cluster.namespace

    def server_version(self) -> str:
        """The API server's version, e.g. ``v1.31.0``: a cheap check that it answers.

        Raises:
            ClusterUnavailableError: nothing answers at the address.
        """
        info = self.cluster.require(
            "read the server version", client.VersionApi(self.cluster.api).get_code
        )
        return str(info.git_version)

    # --- Redis -------------------------------------------------------------------

    def up(
        self,
        options: objects.RedisOptions | None = None,
        *,
        create_namespace: bool = False,
        wait_seconds: float | None = REDIS_READY_SECONDS,
    ) -> UpOutcome:
        """Create or update Redis: Secret, Service, StatefulSet, NetworkPolicy.

        Args:
            options: the StatefulSet's image and sizes.
            create_namespace: create the namespace first if it is missing.
            wait_seconds: wait this long for Redis to be ready; None: do not.

        Note:
            An existing Secret is kept: Redis read its password at start, and
            a new one would lock every client out until Redis restarts. An
            existing StatefulSet gets the new pod template only: Kubernetes
            does not let its volume size or class change (``down(purge=True)``
            first for that).
        """
        if create_namespace:
            self._ensure_namespace()
        secret_created = self._ensure_secret()

        core, apps = self.cluster.core, self.cluster.apps
        policies = self.cluster.networking
        stateful_set = objects.redis_statefulset(options)
        applied = [
            self._apply(
                objects.redis_service(),
                core.create_namespaced_service,
                core.patch_namespaced_service,
            ),
            self._apply(
                stateful_set,
                apps.create_namespaced_stateful_set,
                apps.patch_namespaced_stateful_set,
                changes=mutable_part(stateful_set),
            ),
            self._apply(
                objects.redis_network_policy(),
                policies.create_namespaced_network_policy,
                policies.patch_namespaced_network_policy,
            ),
        ]
        logger.info("redis applied in namespace %s: %s", self.namespace, applied)

        if wait_seconds is not None:
            self.wait_for_redis(wait_seconds)
        return UpOutcome(self.namespace, secret_created, tuple(applied))

    def down(self, *, purge: bool = False) -> list[str]:
        """Delete every worker Job (with its pods) and Redis.

        Args:
            purge: also delete the Secret and Redis's volume claim, and with
                them every run's data.

        Returns:
            ``kind/name`` of each object deleted.
        """
        deleted = []
        selector = f"{objects.LABEL_APP}={objects.WORKER_APP}"
        for job in self._list_jobs(selector):
            name = objects.name_of(job)
            if self._delete("jobs", self.cluster.batch.delete_namespaced_job, name):
                deleted.append(f"job/{name}")

        core, apps = self.cluster.core, self.cluster.apps
        policies = self.cluster.networking
        targets: list[tuple[str, Callable[..., Any], str]] = [
            ("statefulset", apps.delete_namespaced_stateful_set, objects.REDIS_NAME),
            ("service", core.delete_namespaced_service, objects.REDIS_NAME),
            (
                "networkpolicy",
                policies.delete_namespaced_network_policy,
                objects.REDIS_NAME,
            ),
        ]
        if purge:
            claim = f"{objects.REDIS_DATA_VOLUME}-{objects.redis_pod_name()}"
            targets += [
                ("secret", core.delete_namespaced_secret, objects.REDIS_SECRET),
                (
                    "persistentvolumeclaim",
                    core.delete_namespaced_persistent_volume_claim,
                    claim,
                ),
            ]
        for kind, function, name in targets:
            if self._delete(f"{kind}s", function, name):
                deleted.append(f"{kind}/{name}")
        return deleted

    def wait_for_redis(self, timeout: float = REDIS_READY_SECONDS) -> None:
        """Wait until the Redis StatefulSet has a ready pod.

        Raises:
            RedisNotDeployedError: no StatefulSet, or no ready pod in time.
        """
        deadline = time.monotonic() + timeout
        while True:
            stateful_set = self.cluster.call(
                "read statefulsets",
                self.cluster.apps.read_namespaced_stateful_set,
                objects.REDIS_NAME,
                self.namespace,
                missing_ok=True,
            )
            if stateful_set is None:
                raise RedisNotDeployedError(
                    f"no Redis (StatefulSet {objects.REDIS_NAME}) in namespace "
                    f"{self.namespace!r}: run 'ttg k8s up' first"
                )
            status = stateful_set.status
            if status is not None and (status.ready_replicas or 0) >= 1:
                return
            if time.monotonic() >= deadline:
                raise RedisNotDeployedError(
                    f"Redis in namespace {self.namespace!r} is not ready after "
                    f"{timeout:g} s ({self._redis_pod_problem()}); "
                    f"see kubectl describe pod {objects.redis_pod_name()}"
                )
            time.sleep(self.poll_seconds)

    def redis_password(self) -> str:
        """The password from the Secret (never logged).

        Raises:
            RedisNotDeployedError: the Secret or its key is missing.
        """
        secret = self.cluster.call(
            "read secrets",
            self.cluster.core.read_namespaced_secret,
            objects.REDIS_SECRET,
            self.namespace,
            missing_ok=True,
        )
        encoded = (secret.data or {}).get(objects.REDIS_SECRET_KEY) if secret else None
        if not encoded:
            raise RedisNotDeployedError(
                f"no Secret {objects.REDIS_SECRET} with a {objects.REDIS_SECRET_KEY!r} "
                f"key in namespace {self.namespace!r}: run 'ttg k8s up' first"
            )
        return base64.b64decode(encoded).decode("utf-8")

    @contextmanager
    def redis_settings(self) -> Iterator[RedisSettings]:
        """Settings that reach Redis from here, for the ``with`` block.

        ``redis_url`` when the launcher has one; the Service's address inside
        the cluster; else a port-forward to ``ttg-redis-0``, open for the
        block.
        """
        password = self.redis_password()
        if self.redis_url is not None:
            yield RedisSettings(url=self.redis_url, password=password)
            return
        if self.cluster.in_cluster:
            host = f"{objects.REDIS_NAME}.{self.namespace}.svc"
            yield RedisSettings(host=host, port=objects.REDIS_PORT, password=password)
            return

        pod = objects.redis_pod_name()
        opener = pod_opener(self.cluster.core, self.namespace, pod, objects.REDIS_PORT)
        tunnel = PortForward(opener)
        try:
            tunnel.start()
        except ApiException as error:
            raise self.cluster.translate(error, f"port-forward to pod {pod}") from None
        try:
            yield RedisSettings(host=tunnel.host, port=tunnel.port, password=password)
        finally:
            tunnel.close()

    @contextmanager
    def redis_client(self) -> Iterator[redis.Redis]:
        """A connected Redis client for the ``with`` block (:meth:`redis_settings`)."""
        if self.redis_url is None:
            self.wait_for_redis()
        with self.redis_settings() as settings:
            connection = connect(settings)
            try:
                yield connection
            finally:
                connection.close()

    # --- runs ----------------------------------------------------------------------

    def run(
        self,
        spec: RunSpec,
        options: objects.JobOptions | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> Report:
        """Start a run's workers, submit it, follow it, and return its report.

        Runs again with the same id are safe: an existing run is not
        submitted twice, and its existing Job is followed instead of a new one.

        Args:
            spec: the run; ``spec.workers`` pods are started.
            options: image, resources and worker options of the pods.
            on_progress: called with a :class:`Snapshot` at every poll.
            timeout: give up following after this many seconds.

        Raises:
            PodStartError, JobFailedError, FollowTimeoutError: see
                :meth:`follow`.
        """
        with self.redis_client() as connection:
            queue = RunQueue(connection, spec.run_id)
            self.launch(queue, spec, options)
            for snapshot in self.follow(queue, spec.run_id, timeout=timeout):
                if on_progress is not None:
                    on_progress(snapshot)
            return build_report(connection, spec.run_id)

    def launch(
        self, queue: RunQueue, spec: RunSpec, options: objects.JobOptions | None = None
    ) -> SubmitOutcome:
        """Create the run's Job, wait for its workers to be up, then submit.

        Submitting only once the workers wait for the run (as local runs do)
        lets them start together, so the report's timing is not skewed by
        pods that start late.
        """
        objects.check_run_label(spec.run_id)
        options = options or objects.JobOptions()
        spec = measured_if_importable(spec)
        if queue.exists():
            outcome = queue.submit(spec)
            self.start_job(spec, options)
            return outcome

        self.start_job(spec, options)
        self._await_workers(queue, spec, options.idle_timeout_seconds)
        outcome = queue.submit(spec)
        logger.info(
            "run=%s submitted chunks=%d created=%s",
            spec.run_id,
            outcome.chunks,
            outcome.created,
        )
        return outcome

    def start_job(self, spec: RunSpec, options: objects.JobOptions) -> str:
        """Create the run's first worker Job, or keep the one that exists."""
        job = objects.worker_job(spec, options)
        name = objects.name_of(job)
        try:
            self.cluster.require(
                "create jobs",
                self.cluster.batch.create_namespaced_job,
                self.namespace,
                job,
            )
        except AlreadyExistsError:
            existing = self.jobs(spec.run_id)
            if not any(objects.name_of(j) == name for j in existing):
                raise KubernetesError(
                    f"a Job named {name} already exists for another run; "
                    "choose another run id"
                ) from None
            logger.info("job %s exists already; following it", name)
            return name
        logger.info("created job %s with %d workers", name, spec.workers)
        return name

    def follow(
        self, queue: RunQueue, run_id: str, *, timeout: float | None = None
    ) -> Iterator[Snapshot]:
        """Yield a :class:`Snapshot` every poll until the run's queue says it is done.

        Raises:
            PodStartError: a pod waits for something waiting cannot fix (an
                image that is not there, a missing Secret).
            JobFailedError: a Job failed, or every pod ended (idle timeout)
                while chunks were still unsettled.
            FollowTimeoutError: ``timeout`` passed.
        """
        started = time.monotonic()
        while True:
            snapshot = self._patient_snapshot(queue, run_id, started)
            yield snapshot
            if snapshot.finished:
                return
            self.check_health(snapshot)
            if timeout is not None and snapshot.seconds >= timeout:
                raise FollowTimeoutError(run_id, timeout)
            time.sleep(self.poll_seconds)

    def _patient_snapshot(
        self, queue: RunQueue, run_id: str, started: float
    ) -> Snapshot:
        """A snapshot, retried while the API server or Redis is briefly away."""
        troubled_since: float | None = None
        while True:
            try:
                return self.snapshot(queue, run_id, started)
            except (
                ClusterUnavailableError,
                redis.ConnectionError,
                redis.TimeoutError,
            ) as error:
                now = time.monotonic()
                troubled_since = troubled_since or now
                if now - troubled_since >= PATIENCE_SECONDS:
                    raise
                logger.warning(
                    "run=%s cannot look at the run, retrying: %s", run_id, error
                )
                time.sleep(self.poll_seconds)

    def snapshot(self, queue: RunQueue, run_id: str, started: float) -> Snapshot:
        """Jobs and pods first, then the queue: a run seen finished is finished."""
        jobs = tuple(JobState.from_job(job) for job in self.jobs(run_id))
        pods = tuple(PodState.from_pod(pod) for pod in self.pods(run_id))
        return Snapshot(
            run_id, queue.progress(), jobs, pods, time.monotonic() - started
        )

    def check_health(self, snapshot: Snapshot) -> None:
        """Raise when the run cannot finish without the user's help."""
        check_pods(snapshot.pods)
        check_jobs(snapshot.run_id, snapshot.jobs)

        if not snapshot.jobs:
            raise JobFailedError(
                snapshot.run_id, "its worker Jobs are gone before it finished"
            )
        if all(job.complete for job in snapshot.jobs):
            left = snapshot.progress.chunks_total - snapshot.progress.chunks_settled
            raise JobFailedError(
                snapshot.run_id,
                f"every worker has exited but {left} chunks are unsettled; "
                f"add workers with 'ttg k8s scale {snapshot.run_id} N'",
            )

    def scale(self, run_id: str, workers: int) -> str:
        """Add ``workers`` pods to a running run, as a new Job like its first.

        The new pods take worker ids after every existing Job's
        (``WORKER_ID_OFFSET``), so their consumer names are new.

        Raises:
            RunJobNotFoundError: the run has no Job to copy.
            UsageError: the run is in static mode, whose ranges are fixed at
                submission.
        """
        if workers < 1:
            raise UsageError(f"workers must be 1 or more, not {workers}")
        jobs = self.jobs(run_id)
        if not jobs:
            raise RunJobNotFoundError(run_id, self.namespace)
        base = min(jobs, key=objects.job_offset)
        labels = objects.present(base.metadata, "metadata").labels or {}
        if labels.get(objects.LABEL_MODE) == "static":
            raise UsageError(
                f"run {run_id!r} is in static mode: each worker's range was fixed "
                "at submission, so new workers cannot join; use queue mode to scale"
            )

        offset = max(
            objects.job_offset(job) + JobState.from_job(job).workers for job in jobs
        )
        part = len(jobs)
        while True:
            job = objects.scale_job(
                base, objects.run_job_name(run_id, part), workers, offset
            )
            try:
                self.cluster.require(
                    "create jobs",
                    self.cluster.batch.create_namespaced_job,
                    self.namespace,
                    job,
                )
            except AlreadyExistsError:
                if part >= len(jobs) + SCALE_NAME_TRIES:
                    raise
                part += 1
                continue
            logger.info(
                "run=%s scaled by %d workers from id %d (job %s)",
                run_id,
                workers,
                offset,
                objects.name_of(job),
            )
            return objects.name_of(job)

    def logs(self, run_id: str, tail: int | None = None) -> list[PodLog]:
        """The worker container's log of every pod of the run.

        Raises:
            RunJobNotFoundError: the run has neither Jobs nor pods.
        """
        pods = sorted(
            (PodState.from_pod(pod) for pod in self.pods(run_id)),
            key=lambda pod: (
                int(pod.index) if pod.index and pod.index.isdigit() else -1,
                pod.name,
            ),
        )
        if not pods and not self.jobs(run_id):
            raise RunJobNotFoundError(run_id, self.namespace)

        logs = []
        for pod in pods:
            try:
                text = self.cluster.call(
                    "read pods/log",
                    self.cluster.core.read_namespaced_pod_log,
                    pod.name,
                    self.namespace,
                    container=objects.WORKER_CONTAINER,
                    tail_lines=tail,
                    missing_ok=True,
                )
            except PermissionDeniedError:
                raise
            except KubernetesError as error:
                text = f"(no log: {error})"
            logs.append(PodLog(pod.name, text if text is not None else "(pod is gone)"))
        return logs

    def wait_for_workers_to_exit(self, run_id: str, timeout: float) -> bool:
        """Wait until every Job of the run has ended; False if ``timeout`` passed.

        Workers leave on their own once their run is finished; a run's keys
        are best removed after that, not under a worker still reading them.
        """
        deadline = time.monotonic() + timeout
        while True:
            states = [JobState.from_job(job) for job in self.jobs(run_id)]
            if all(state.complete or state.failure is not None for state in states):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(self.poll_seconds)

    def delete_run(self, run_id: str) -> list[str]:
        """Delete a run's Jobs and their pods (its data in Redis stays)."""
        deleted = []
        for job in self.jobs(run_id):
            name = objects.name_of(job)
            if self._delete("jobs", self.cluster.batch.delete_namespaced_job, name):
                deleted.append(f"job/{name}")
        return deleted

    def jobs(self, run_id: str) -> list[client.V1Job]:
        """The run's worker Jobs."""
        return self._list_jobs(objects.run_selector(run_id))

    def pods(self, run_id: str) -> list[client.V1Pod]:
        """The run's worker pods."""
        found = self.cluster.require(
            "list pods",
            self.cluster.core.list_namespaced_pod,
            self.namespace,
            label_selector=objects.run_selector(run_id),
        )
        return list(found.items or [])

    # --- helpers -----------------------------------------------------------------

    def _await_workers(
        self, queue: RunQueue, spec: RunSpec, idle_timeout: float
    ) -> None:
        """Wait until the workers announce themselves, within their idle timeout.

        Workers wait at most their idle timeout for a run to appear, so this
        returns at the latest half of it after the first one arrived, and
        after :data:`START_SECONDS` when none does.
        """
        started = time.monotonic()
        first_seen: float | None = None
        while True:
            present = len(queue.workers())
            now = time.monotonic()
            if present >= spec.workers:
                return
            if present and first_seen is None:
                first_seen = now
            if first_seen is not None and now - first_seen >= idle_timeout / 2:
                logger.warning(
                    "run=%s submitting with %d of %d workers up",
                    spec.run_id,
                    present,
                    spec.workers,
                )
                return
            if now - started >= START_SECONDS:
                logger.warning(
                    "run=%s no worker up after %.0f s; submitting",
                    spec.run_id,
                    now - started,
                )
                return
            check_pods([PodState.from_pod(pod) for pod in self.pods(spec.run_id)])
            check_jobs(
                spec.run_id, [JobState.from_job(job) for job in self.jobs(spec.run_id)]
            )
            time.sleep(self.poll_seconds)

    def _ensure_namespace(self) -> None:
        body = client.V1Namespace(metadata=client.V1ObjectMeta(name=self.namespace))
        try:
            self.cluster.call(
                "create namespaces", self.cluster.core.create_namespace, body
            )
        except AlreadyExistsError:
            logger.debug("namespace %s exists", self.namespace)

    def _ensure_secret(self) -> bool:
        existing = self.cluster.call(
            "read secrets",
            self.cluster.core.read_namespaced_secret,
            objects.REDIS_SECRET,
            self.namespace,
            missing_ok=True,
        )
        if existing is not None:
            return False
        secret = objects.redis_secret(secrets.token_urlsafe(PASSWORD_BYTES))
        self.cluster.call(
            "create secrets",
            self.cluster.core.create_namespaced_secret,
            self.namespace,
            secret,
        )
        logger.info("created secret %s", objects.REDIS_SECRET)
        return True

    def _apply(
        self,
        body: Any,
        create: Callable[..., Any],
        patch: Callable[..., Any],
        changes: dict[str, Any] | None = None,
    ) -> str:
        """Create an object, or patch it (strategic merge) when it exists.

        Args:
            changes: what to patch an existing object with; all of ``body``
                when None.
        """
        kind = f"{str(body.kind).lower()}s"
        name = str(body.metadata.name)
        try:
            self.cluster.call(f"create {kind}", create, self.namespace, body)
        except AlreadyExistsError:
            self.cluster.call(
                f"patch {kind}",
                patch,
                name,
                self.namespace,
                body if changes is None else changes,
                _content_type=STRATEGIC_MERGE,
            )
        return f"{str(body.kind).lower()}/{name}"

    def _delete(self, kind: str, function: Callable[..., Any], name: str) -> bool:
        """Delete one object with its dependents; False if it was not there."""
        result = self.cluster.call(
            f"delete {kind}",
            function,
            name,
            self.namespace,
            propagation_policy="Background",
            missing_ok=True,
        )
        return result is not None

    def _list_jobs(self, selector: str) -> list[client.V1Job]:
        found = self.cluster.require(
            "list jobs",
            self.cluster.batch.list_namespaced_job,
            self.namespace,
            label_selector=selector,
        )
        return list(found.items or [])

    def _redis_pod_problem(self) -> str:
        pod = self.cluster.call(
            "read pods",
            self.cluster.core.read_namespaced_pod,
            objects.redis_pod_name(),
            self.namespace,
            missing_ok=True,
        )
        if pod is None:
            return f"pod {objects.redis_pod_name()} not created yet"
        state = PodState.from_pod(pod)
        problem = f"pod {state.name} is {state.phase}"
        for condition in (pod.status.conditions if pod.status else None) or []:
            if condition.status == "False" and condition.message:
                return f"{problem}: {condition.message}"
        return f"{problem}: {state.reason}" if state.reason else problem


def measured_if_importable(spec: RunSpec) -> RunSpec:
    """An adaptive run with its task timed here, when this machine can import it.

    The task runs in the image; when its module is not installed where the
    launcher runs, the adaptive plan reads the cost model alone.
    """
    from ttglib.chunks import with_measured_pilot
    from ttglib.errors import UnknownTaskError
    from ttglib.workloads import resolve_task

    if spec.plan != "adaptive":
        return spec
    try:
        function = resolve_task(spec.task)
    except UnknownTaskError as error:
        logger.info("adaptive plan from the cost model only: %s", error)
        return spec
    return with_measured_pilot(spec, function)


def mutable_part(stateful_set: client.V1StatefulSet) -> dict[str, Any]:
    """What Kubernetes lets a StatefulSet update change: labels, replicas, template."""
    plain = to_plain(stateful_set)
    return {
        "metadata": {"labels": plain["metadata"]["labels"]},
        "spec": {
            "replicas": plain["spec"]["replicas"],
            "template": plain["spec"]["template"],
        },
    }
