"""The Kubernetes objects of a ttg deployment, declared once in code.

Every object the launcher creates and every manifest ``ttg k8s render`` writes
comes from a builder here, so the two never disagree:

- Redis: a :func:`redis_secret` with its password, a :func:`redis_statefulset`
  (one pod, a persistent volume, the append-only file on), a
  :func:`redis_service` named ``ttg-redis`` and a :func:`redis_network_policy`
  that admits only ttg pods;
- workers: :func:`worker_job`, an Indexed Job whose completion index becomes
  each pod's ``WORKER_ID``.

The names, labels and environment variables are the original system's: Service
``ttg-redis``, labels ``app: ttg-worker``, ``version``, ``ttg.io/mode``,
``ttg.io/milestone``, and ``USE_QUEUE``, ``REDIS_HOST``, ``CHUNK_SIZE`` and the
rest. Each pod runs as a non-root user on a read-only root filesystem, with no
privilege escalation, every capability dropped and the runtime's default
seccomp profile.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import TypeVar

from kubernetes import client

from ttglib import __version__
from ttglib.config import RunSpec
from ttglib.errors import UsageError
from ttglib.k8s.errors import KubernetesError

T = TypeVar("T")

# --- names and labels --------------------------------------------------------

REDIS_NAME = "ttg-redis"
REDIS_SECRET = "ttg-redis-auth"
REDIS_SECRET_KEY = "password"
REDIS_PORT = 6379
REDIS_IMAGE = "redis:7.2-alpine"
REDIS_DATA_VOLUME = "data"

WORKER_APP = "ttg-worker"
WORKER_IMAGE = f"ttg-worker:v{__version__}"
WORKER_CONTAINER = "worker"
SUBMIT_CONTAINER = "submit"
VERSION_LABEL = f"v{__version__}"
MILESTONE = "2"

LABEL_APP = "app"
LABEL_VERSION = "version"
LABEL_MODE = "ttg.io/mode"
LABEL_MILESTONE = "ttg.io/milestone"
LABEL_RUN = "ttg.io/run"
# Every ttg pod carries this label; the network policy admits exactly these.
LABEL_PART_OF = "app.kubernetes.io/part-of"
PART_OF = "ttg"

COMPLETION_INDEX = "metadata.annotations['batch.kubernetes.io/job-completion-index']"

# The user ids of the worker image (see the Dockerfile) and of the Redis image.
WORKER_UID = 10001
REDIS_UID = 999

_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
_SLUG_LENGTH = 36


# --- settings ----------------------------------------------------------------


@dataclass(frozen=True)
class RedisOptions:
    """How the Redis StatefulSet is sized.

    Attributes:
        image: the Redis image (6.2 or newer).
        storage: the persistent volume's size.
        storage_class: the volume's StorageClass; the cluster default when None.
        cpu_request, memory_request, cpu_limit, memory_limit: the container's
            resources, as Kubernetes quantities.
    """

    image: str = REDIS_IMAGE
    storage: str = "1Gi"
    storage_class: str | None = None
    cpu_request: str = "100m"
    memory_request: str = "128Mi"
    cpu_limit: str = "1"
    memory_limit: str = "512Mi"


@dataclass(frozen=True)
class JobOptions:
    """How the worker pods of a run are built.

    Attributes:
        image: the worker image.
        image_pull_policy: ``IfNotPresent`` suits images loaded into kind.
        lease_seconds: the worker's ``--lease-seconds``.
        grace_seconds: the worker's ``--grace-seconds``: how long it drains on
            SIGTERM. The pod's termination grace period is 10 s longer.
        idle_timeout_seconds: ``IDLE_TIMEOUT_SECONDS``.
        max_attempts: the worker's ``--max-attempts``; its default when None.
        cpu_request, memory_request, cpu_limit, memory_limit: per worker pod.
        backoff_limit: failed pods the Job tolerates before it fails.
        ttl_seconds: how long a finished Job (and its pods' logs) is kept.
        submit_in_pod: run ``ttg submit`` as an init container of every pod,
            for ``kubectl apply`` users; the launcher submits by itself.
        redis_host: the Service that workers reach Redis through.
    """

    image: str = WORKER_IMAGE
    image_pull_policy: str = "IfNotPresent"
    lease_seconds: float = 10.0
    grace_seconds: float = 20.0
    idle_timeout_seconds: float = 30.0
    max_attempts: int | None = None
    cpu_request: str = "250m"
    memory_request: str = "128Mi"
    cpu_limit: str = "1"
    memory_limit: str = "256Mi"
    backoff_limit: int = 6
    ttl_seconds: int = 3600
    submit_in_pod: bool = False
    redis_host: str = REDIS_NAME

    def __post_init__(self) -> None:
        if self.lease_seconds <= 0:
            raise UsageError(f"lease seconds must be above 0, not {self.lease_seconds}")
        if self.grace_seconds < 0:
            raise UsageError(
                f"grace seconds must be 0 or more, not {self.grace_seconds}"
            )
        if self.idle_timeout_seconds <= 0:
            raise UsageError("idle timeout seconds must be above 0")
        if self.backoff_limit < 0 or self.ttl_seconds < 0:
            raise UsageError("backoff limit and TTL seconds must be 0 or more")

    @property
    def termination_grace_seconds(self) -> int:
        """The pod's grace period: the worker's drain time plus 10 s to exit."""
        return math.ceil(self.grace_seconds) + 10


# --- naming --------------------------------------------------------------------


def present(value: T | None, what: str) -> T:
    """``value``, or an error naming the field an API object lacks.

    The client types every field as optional; objects read back from the API
    server always carry the ones ttg reads.
    """
    if value is None:
        raise KubernetesError(f"the API server returned an object without {what}")
    return value


def name_of(item: client.V1Job | client.V1Pod) -> str:
    """The name of an object read from the API."""
    return str(present(item.metadata, "metadata").name)


def check_run_label(run_id: str) -> str:
    """Return ``run_id`` if it can be a label value, else raise.

    Raises:
        UsageError: the id is longer than 63 characters or ends with ``.``,
            ``_`` or ``-``, which Kubernetes label values do not allow.
    """
    if not _LABEL_VALUE.match(run_id):
        raise UsageError(
            f"run id {run_id!r} cannot label Kubernetes objects: use at most 63 "
            "characters, ending with a letter or digit"
        )
    return run_id


def run_job_name(run_id: str, part: int = 0) -> str:
    """The name of a run's worker Job: ``ttg-<run>``, then ``ttg-<run>-s<part>``.

    Job names must be lowercase DNS labels, so an id with capitals, dots or
    underscores, or a long one, is folded and cut, and a short hash of the
    original keeps two such ids apart.
    """
    slug = re.sub(r"[^a-z0-9-]+", "-", run_id.lower()).strip("-")[:_SLUG_LENGTH]
    slug = slug.strip("-") or "run"
    if slug != run_id:
        slug = f"{slug}-{hashlib.sha1(run_id.encode()).hexdigest()[:6]}"
    base = f"ttg-{slug}"
    return base if part == 0 else f"{base}-s{part}"


def worker_labels(spec: RunSpec) -> dict[str, str]:
    """The original guide's worker labels, plus the run and the part-of label."""
    return {
        LABEL_APP: WORKER_APP,
        LABEL_VERSION: VERSION_LABEL,
        LABEL_MODE: spec.mode,
        LABEL_MILESTONE: MILESTONE,
        LABEL_RUN: check_run_label(spec.run_id),
        LABEL_PART_OF: PART_OF,
    }


def run_selector(run_id: str) -> str:
    """The label selector of a run's Jobs and pods."""
    return f"{LABEL_APP}={WORKER_APP},{LABEL_RUN}={run_id}"


def redis_labels() -> dict[str, str]:
    """The labels of the Redis pod and its companions."""
    return {LABEL_APP: REDIS_NAME, LABEL_PART_OF: PART_OF}


def redis_pod_name() -> str:
    """The StatefulSet's only pod: ``ttg-redis-0``."""
    return f"{REDIS_NAME}-0"


# --- hardening shared by every pod ---------------------------------------------


def pod_security(uid: int) -> client.V1PodSecurityContext:
    """Non-root, with the runtime's default seccomp profile."""
    return client.V1PodSecurityContext(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        fs_group=uid,
        seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
    )


def container_security() -> client.V1SecurityContext:
    """Read-only root, no privilege escalation, no capabilities."""
    return client.V1SecurityContext(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        capabilities=client.V1Capabilities(drop=["ALL"]),
    )


def resources(
    cpu_request: str, memory_request: str, cpu_limit: str, memory_limit: str
) -> client.V1ResourceRequirements:
    """Requests and limits for one container."""
    return client.V1ResourceRequirements(
        requests={"cpu": cpu_request, "memory": memory_request},
        limits={"cpu": cpu_limit, "memory": memory_limit},
    )


def secret_env(name: str, secret: str = REDIS_SECRET) -> client.V1EnvVar:
    """An environment variable read from the Redis password Secret."""
    return client.V1EnvVar(
        name=name,
        value_from=client.V1EnvVarSource(
            secret_key_ref=client.V1SecretKeySelector(name=secret, key=REDIS_SECRET_KEY)
        ),
    )


def env(name: str, value: str) -> client.V1EnvVar:
    """A plain environment variable."""
    return client.V1EnvVar(name=name, value=value)


# --- Redis -----------------------------------------------------------------------


def redis_secret(password: str) -> client.V1Secret:
    """The Secret that holds the Redis password (never rendered to a file)."""
    return client.V1Secret(
        api_version="v1",
        kind="Secret",
        metadata=client.V1ObjectMeta(name=REDIS_SECRET, labels=redis_labels()),
        type="Opaque",
        string_data={REDIS_SECRET_KEY: password},
    )


# The password reaches redis-server through a config file on a memory volume,
# so it appears neither in the pod spec nor on the process's command line.
REDIS_START = """\
umask 077
printf 'requirepass "%s"\\n' "$REDIS_PASSWORD" > /run/redis/auth.conf
exec redis-server /run/redis/auth.conf --port {port} --dir /data \\
  --appendonly yes --appendfsync everysec --save ''
"""


def redis_container(options: RedisOptions) -> client.V1Container:
    """redis-server with the append-only file on, its password from the Secret.

    ``REDISCLI_AUTH`` lets ``kubectl exec ttg-redis-0 -- redis-cli ...`` and
    the readiness probe authenticate without the password on a command line.
    """
    return client.V1Container(
        name="redis",
        image=options.image,
        command=["sh", "-c", REDIS_START.format(port=REDIS_PORT)],
        env=[secret_env("REDIS_PASSWORD"), secret_env("REDISCLI_AUTH")],
        ports=[client.V1ContainerPort(name="redis", container_port=REDIS_PORT)],
        readiness_probe=client.V1Probe(
            _exec=client.V1ExecAction(
                command=["sh", "-c", "redis-cli ping | grep -q PONG"]
            ),
            period_seconds=5,
            timeout_seconds=3,
        ),
        liveness_probe=client.V1Probe(
            tcp_socket=client.V1TCPSocketAction(port="redis"),
            initial_delay_seconds=10,
            period_seconds=10,
        ),
        resources=resources(
            options.cpu_request,
            options.memory_request,
            options.cpu_limit,
            options.memory_limit,
        ),
        security_context=container_security(),
        volume_mounts=[
            client.V1VolumeMount(name=REDIS_DATA_VOLUME, mount_path="/data"),
            client.V1VolumeMount(name="run", mount_path="/run/redis"),
        ],
    )


def redis_statefulset(options: RedisOptions | None = None) -> client.V1StatefulSet:
    """One Redis pod, ``ttg-redis-0``, with its data on a persistent volume."""
    options = options or RedisOptions()
    labels = redis_labels()
    claim = client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name=REDIS_DATA_VOLUME, labels=labels),
        spec=client.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"],
            storage_class_name=options.storage_class,
            resources=client.V1VolumeResourceRequirements(
                requests={"storage": options.storage}
            ),
        ),
    )
    pod = client.V1PodSpec(
        automount_service_account_token=False,
        enable_service_links=False,
        security_context=pod_security(REDIS_UID),
        termination_grace_period_seconds=30,
        containers=[redis_container(options)],
        volumes=[
            client.V1Volume(
                name="run",
                empty_dir=client.V1EmptyDirVolumeSource(
                    medium="Memory", size_limit="1Mi"
                ),
            )
        ],
    )
    return client.V1StatefulSet(
        api_version="apps/v1",
        kind="StatefulSet",
        metadata=client.V1ObjectMeta(name=REDIS_NAME, labels=labels),
        spec=client.V1StatefulSetSpec(
            replicas=1,
            service_name=REDIS_NAME,
            selector=client.V1LabelSelector(match_labels={LABEL_APP: REDIS_NAME}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels), spec=pod
            ),
            volume_claim_templates=[claim],
        ),
    )


def redis_service() -> client.V1Service:
    """The Service ``ttg-redis``: the address workers find Redis at."""
    return client.V1Service(
        api_version="v1",
        kind="Service",
        metadata=client.V1ObjectMeta(name=REDIS_NAME, labels=redis_labels()),
        spec=client.V1ServiceSpec(
            selector={LABEL_APP: REDIS_NAME},
            ports=[
                client.V1ServicePort(
                    name="redis", port=REDIS_PORT, target_port="redis", protocol="TCP"
                )
            ],
        ),
    )


def redis_network_policy() -> client.V1NetworkPolicy:
    """Admit only pods labelled ``app.kubernetes.io/part-of: ttg`` to Redis.

    Note:
        A policy takes effect only where the cluster's network plugin enforces
        policies; a port-forward reaches the pod from its own node and is not
        subject to it.
    """
    return client.V1NetworkPolicy(
        api_version="networking.k8s.io/v1",
        kind="NetworkPolicy",
        metadata=client.V1ObjectMeta(name=REDIS_NAME, labels=redis_labels()),
        spec=client.V1NetworkPolicySpec(
            pod_selector=client.V1LabelSelector(match_labels={LABEL_APP: REDIS_NAME}),
            policy_types=["Ingress"],
            ingress=[
                client.V1NetworkPolicyIngressRule(
                    _from=[
                        client.V1NetworkPolicyPeer(
                            pod_selector=client.V1LabelSelector(
                                match_labels={LABEL_PART_OF: PART_OF}
                            )
                        )
                    ],
                    ports=[client.V1NetworkPolicyPort(port=REDIS_PORT, protocol="TCP")],
                )
            ],
        ),
    )


# --- workers -----------------------------------------------------------------------


def run_env(spec: RunSpec, options: JobOptions) -> list[client.V1EnvVar]:
    """The variables that ``ttg submit`` and ``ttg worker`` both read."""
    return [
        env("USE_QUEUE", "true" if spec.mode == "queue" else "false"),
        env("REDIS_HOST", options.redis_host),
        env("REDIS_PORT", str(REDIS_PORT)),
        secret_env("REDIS_PASSWORD"),
        env("CHUNK_SIZE", str(spec.chunk_size)),
        env("TOTAL_PARAMS", str(spec.total_params)),
        env("SIMULATE_WORK_MS", f"{spec.work_ms:g}"),
        env("TTG_RUN_ID", spec.run_id),
    ]


def worker_env(
    spec: RunSpec, options: JobOptions, offset: int
) -> list[client.V1EnvVar]:
    """The worker's variables: the run's, its id, offset and idle timeout."""
    worker_id = client.V1EnvVar(
        name="WORKER_ID",
        value_from=client.V1EnvVarSource(
            field_ref=client.V1ObjectFieldSelector(field_path=COMPLETION_INDEX)
        ),
    )
    return [
        *run_env(spec, options),
        env("IDLE_TIMEOUT_SECONDS", f"{options.idle_timeout_seconds:g}"),
        worker_id,
        env("WORKER_ID_OFFSET", str(offset)),
    ]


def worker_args(spec: RunSpec, options: JobOptions) -> list[str]:
    """The worker's options that have no environment variable."""
    args = [
        "--lease-seconds",
        f"{options.lease_seconds:g}",
        "--grace-seconds",
        f"{options.grace_seconds:g}",
    ]
    if options.max_attempts is not None:
        args += ["--max-attempts", str(options.max_attempts)]
    if spec.task != "reference":
        args += ["--task", spec.task]
    return args


def worker_container(
    spec: RunSpec, options: JobOptions, offset: int
) -> client.V1Container:
    """The ``ttg worker`` container, with a writable /tmp on a read-only root."""
    return client.V1Container(
        name=WORKER_CONTAINER,
        image=options.image,
        image_pull_policy=options.image_pull_policy,
        command=["ttg", "worker"],
        args=worker_args(spec, options),
        env=worker_env(spec, options, offset),
        resources=resources(
            options.cpu_request,
            options.memory_request,
            options.cpu_limit,
            options.memory_limit,
        ),
        security_context=container_security(),
        volume_mounts=[client.V1VolumeMount(name="tmp", mount_path="/tmp")],
    )


def submit_container(
    spec: RunSpec, options: JobOptions, workers: int
) -> client.V1Container:
    """``ttg submit`` as an init container: idempotent, so every pod may run it."""
    args = ["--workers", str(workers)]
    if spec.task != "reference":
        args += ["--task", spec.task]
    return client.V1Container(
        name=SUBMIT_CONTAINER,
        image=options.image,
        image_pull_policy=options.image_pull_policy,
        command=["ttg", "submit"],
        args=args,
        env=run_env(spec, options),
        resources=resources("50m", "64Mi", options.cpu_limit, options.memory_limit),
        security_context=container_security(),
        volume_mounts=[client.V1VolumeMount(name="tmp", mount_path="/tmp")],
    )


def pod_failure_policy() -> client.V1PodFailurePolicy:
    """Ignore disruptions: an evicted, preempted or drained pod is no failure.

    Such a pod is replaced without counting against ``backoffLimit``; its
    task goes back to the queue when its lease runs out, or at once when it
    drained in time.

    Note:
        A plain ``kubectl delete pod`` marks no disruption: the worker drains
        and exits, and the Job counts the exit like any other.
    """
    return client.V1PodFailurePolicy(
        rules=[
            client.V1PodFailurePolicyRule(
                action="Ignore",
                on_pod_conditions=[
                    client.V1PodFailurePolicyOnPodConditionsPattern(
                        type="DisruptionTarget", status="True"
                    )
                ],
            ),
        ]
    )


def worker_job(
    spec: RunSpec,
    options: JobOptions | None = None,
    *,
    name: str | None = None,
    workers: int | None = None,
    offset: int = 0,
) -> client.V1Job:
    """The Indexed Job of ``workers`` pods for a run.

    Args:
        spec: the run; its mode, size and id go into labels and variables.
        options: image, resources and worker options.
        name: the Job's name; :func:`run_job_name` of the run when None.
        workers: parallelism and completions; ``spec.workers`` when None.
        offset: ``WORKER_ID_OFFSET``, so that a scale-up Job's pods take
            consumer names after the first Job's.

    Note:
        A worker exits 0 once the run is finished or after its idle timeout,
        so the Job's completion says that its pods ended, not that the run
        did: the launcher asks the run's queue.
    """
    options = options or JobOptions()
    count = spec.workers if workers is None else workers
    if count < 1:
        raise UsageError(f"workers must be 1 or more, not {count}")
    labels = worker_labels(spec)

    pod = client.V1PodSpec(
        restart_policy="Never",
        automount_service_account_token=False,
        enable_service_links=False,
        termination_grace_period_seconds=options.termination_grace_seconds,
        security_context=pod_security(WORKER_UID),
        init_containers=(
            [submit_container(spec, options, count)] if options.submit_in_pod else None
        ),
        containers=[worker_container(spec, options, offset)],
        volumes=[
            client.V1Volume(
                name="tmp", empty_dir=client.V1EmptyDirVolumeSource(size_limit="64Mi")
            )
        ],
    )
    return client.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=client.V1ObjectMeta(
            name=name or run_job_name(spec.run_id), labels=labels
        ),
        spec=client.V1JobSpec(
            completion_mode="Indexed",
            completions=count,
            parallelism=count,
            backoff_limit=options.backoff_limit,
            pod_failure_policy=pod_failure_policy(),
            ttl_seconds_after_finished=options.ttl_seconds,
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels), spec=pod
            ),
        ),
    )


# --- scaling a run ---------------------------------------------------------------

# Labels the Job controller adds to a Job's pod template; a copy must not keep them.
CONTROLLER_LABELS = frozenset(
    {
        "controller-uid",
        "job-name",
        "batch.kubernetes.io/controller-uid",
        "batch.kubernetes.io/job-name",
    }
)


def job_offset(job: client.V1Job) -> int:
    """The ``WORKER_ID_OFFSET`` of a worker Job's pods (0 when unset)."""
    for container in pod_spec(job).containers:
        for variable in container.env or []:
            if variable.name == "WORKER_ID_OFFSET" and (variable.value or "").isdigit():
                return int(str(variable.value))
    return 0


def pod_spec(job: client.V1Job) -> client.V1PodSpec:
    """The pod spec of a Job read from the API."""
    spec = present(job.spec, "spec")
    return present(spec.template.spec, "spec.template.spec")


def scale_job(base: client.V1Job, name: str, workers: int, offset: int) -> client.V1Job:
    """A Job like ``base`` (as read from the API) with ``workers`` more pods.

    The pods are ``base``'s, with ``WORKER_ID_OFFSET`` set to ``offset``;
    labels the Job controller added to ``base`` are dropped, so the new Job
    gets its own selector.
    """
    if workers < 1:
        raise UsageError(f"workers must be 1 or more, not {workers}")
    base_spec = present(base.spec, "spec")
    template = base_spec.template.model_copy(deep=True)
    template_meta = template.metadata or client.V1ObjectMeta()
    template.metadata = client.V1ObjectMeta(labels=own_labels(template_meta.labels))
    for container in present(template.spec, "spec.template.spec").containers:
        variables = [v for v in container.env or [] if v.name != "WORKER_ID_OFFSET"]
        container.env = [*variables, env("WORKER_ID_OFFSET", str(offset))]

    base_meta = present(base.metadata, "metadata")
    return client.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=client.V1ObjectMeta(name=name, labels=own_labels(base_meta.labels)),
        spec=client.V1JobSpec(
            completion_mode="Indexed",
            completions=workers,
            parallelism=workers,
            backoff_limit=base_spec.backoff_limit,
            pod_failure_policy=base_spec.pod_failure_policy,
            ttl_seconds_after_finished=base_spec.ttl_seconds_after_finished,
            template=template,
        ),
    )


def own_labels(labels: dict[str, str] | None) -> dict[str, str]:
    """``labels`` without the ones the Job controller adds."""
    return {k: v for k, v in (labels or {}).items() if k not in CONTROLLER_LABELS}
