"""The errors the Kubernetes launcher raises, under ttglib's one error tree.

Each names the problem and the fix on one line; the CLI shows that line and
exits with ``exit_code``::

    TtgError (ttglib.errors)
    └── KubernetesError              exit 1  a cluster-side failure
        ├── AlreadyExistsError       exit 1  an object of that name exists (409)
        ├── ClusterUnavailableError  exit 2  no kubeconfig, unknown context,
        │                                    or no API server at the address
        ├── PermissionDeniedError    exit 2  the API refused a verb (401/403)
        ├── NamespaceNotFoundError   exit 2  the namespace does not exist
        ├── RedisNotDeployedError    exit 2  no Redis in the namespace
        ├── RunJobNotFoundError      exit 2  no worker Job for the run
        ├── PodStartError            exit 1  a worker pod cannot start
        ├── JobFailedError           exit 1  the Job failed before the run did
        └── FollowTimeoutError       exit 1  the run did not finish in time
"""

from __future__ import annotations

from ttglib.errors import TtgError


class KubernetesError(TtgError):
    """Root of the launcher's errors: something on the cluster side went wrong."""


class AlreadyExistsError(KubernetesError):
    """The API server has an object of that name already (409 Conflict)."""


class ClusterUnavailableError(KubernetesError):
    """No configuration leads to a cluster, or its API server does not answer."""

    exit_code = 2


class PermissionDeniedError(KubernetesError):
    """The API server refused the credentials (401) or the verb (403)."""

    exit_code = 2

    def __init__(self, message: str, *, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


class NamespaceNotFoundError(KubernetesError):
    """The namespace named by ``--namespace`` does not exist."""

    exit_code = 2

    def __init__(self, namespace: str) -> None:
        super().__init__(
            f"namespace {namespace!r} does not exist: create it "
            f"(kubectl create namespace {namespace}) or pass --create-namespace "
            "to 'ttg k8s up'"
        )
        self.namespace = namespace


class RedisNotDeployedError(KubernetesError):
    """The namespace has no ttg Redis, or it never became ready."""

    exit_code = 2


class RunJobNotFoundError(KubernetesError):
    """No worker Job carries the run's label in the namespace."""

    exit_code = 2

    def __init__(self, run_id: str, namespace: str) -> None:
        super().__init__(
            f"no worker Job for run {run_id!r} in namespace {namespace!r} "
            "(start one with 'ttg k8s run')"
        )
        self.run_id = run_id
        self.namespace = namespace


class PodStartError(KubernetesError):
    """A worker pod is stuck before its container runs (image, config)."""

    def __init__(self, pod: str, reason: str, hint: str) -> None:
        super().__init__(f"worker pod {pod} cannot start: {reason}; {hint}")
        self.pod = pod
        self.reason = reason


class JobFailedError(KubernetesError):
    """The worker Job failed, or all its pods ended, before the run finished."""

    def __init__(self, run_id: str, message: str) -> None:
        super().__init__(f"run {run_id!r}: {message}")
        self.run_id = run_id


class FollowTimeoutError(KubernetesError):
    """The run was still unfinished when the caller's time ran out."""

    def __init__(self, run_id: str, seconds: float) -> None:
        super().__init__(
            f"run {run_id!r} did not finish within {seconds:g} s; its workers go "
            f"on in the cluster (see 'ttg k8s logs {run_id}')"
        )
        self.run_id = run_id
