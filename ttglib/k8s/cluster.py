"""Reaching a cluster: configuration, API clients, and one error tree for both.

:func:`connect_cluster` reads a kubeconfig (``--kubeconfig``, else
``KUBECONFIG``, else ``~/.kube/config``) or, with none, the in-cluster service
account, and returns a :class:`Cluster`: the API clients plus the namespace
and a description of where they point.

Every API call goes through :meth:`Cluster.call`, which turns the client's
failures into :mod:`ttglib.k8s.errors`: an API server that does not answer
becomes :class:`~ttglib.k8s.errors.ClusterUnavailableError`, 401 and 403
become :class:`~ttglib.k8s.errors.PermissionDeniedError` naming the refused
action, and a missing namespace becomes
:class:`~ttglib.k8s.errors.NamespaceNotFoundError`. Callers that expect a 404
(reading an object that may not exist) ask for it with ``missing_ok``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from ttglib.k8s.errors import (
    AlreadyExistsError,
    ClusterUnavailableError,
    KubernetesError,
    NamespaceNotFoundError,
    PermissionDeniedError,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

SERVICE_ACCOUNT_NAMESPACE = Path(
    "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
)
# Seconds to open a connection to the API server, and to wait for an answer.
REQUEST_TIMEOUT = (5.0, 30.0)
NO_CLUSTER_HINT = (
    "create a cluster (kind create cluster --config k8s/kind-config.yaml) "
    "or point --kubeconfig / --context at one"
)


@dataclass
class Cluster:
    """The API clients of one cluster, bound to one namespace.

    Attributes:
        api: the configured client that every API object shares.
        namespace: where ttg objects live.
        context: the kubeconfig context, None in-cluster.
        in_cluster: whether the configuration is the pod's service account.
    """

    api: client.ApiClient
    namespace: str
    context: str | None = None
    in_cluster: bool = False

    @property
    def core(self) -> client.CoreV1Api:
        """Pods, Services, Secrets, claims, namespaces."""
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        """StatefulSets."""
        return client.AppsV1Api(self.api)

    @property
    def batch(self) -> client.BatchV1Api:
        """Jobs."""
        return client.BatchV1Api(self.api)

    @property
    def networking(self) -> client.NetworkingV1Api:
        """NetworkPolicies."""
        return client.NetworkingV1Api(self.api)

    @property
    def host(self) -> str:
        """The API server's address."""
        return str(self.api.configuration.host)

    def describe(self) -> str:
        """Where this points, for messages: context (or in-cluster) and address."""
        where = "in-cluster" if self.in_cluster else f"context {self.context or '?'}"
        return f"{where} at {self.host}"

    def call(
        self,
        action: str,
        function: Callable[..., T],
        *args: Any,
        missing_ok: bool = False,
        **kwargs: Any,
    ) -> T | None:
        """Call one API function and turn its failures into ttg errors.

        Args:
            action: what the call does, for messages: ``"create jobs"``.
            function: a bound method of one of the API clients.
            missing_ok: return None on 404 instead of raising.

        Raises:
            ClusterUnavailableError: the API server did not answer.
            PermissionDeniedError: 401 or 403.
            NamespaceNotFoundError: the namespace does not exist.
            AlreadyExistsError: a create found an object of that name.
            KubernetesError: any other refusal, with the server's message.
        """
        kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
        try:
            return function(*args, **kwargs)
        except ApiException as error:
            if error.status == 404 and missing_ok and not namespace_missing(error):
                return None
            raise self.translate(error, action) from None
        except urllib3.exceptions.HTTPError as error:
            raise ClusterUnavailableError(
                f"cannot reach the Kubernetes API ({self.describe()}): "
                f"{short_reason(error)}; is the cluster running? {NO_CLUSTER_HINT}"
            ) from None

    def require(
        self, action: str, function: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T:
        """:meth:`call` for a result that cannot be missing."""
        result = self.call(action, function, *args, **kwargs)
        if result is None:
            raise KubernetesError(f"{action}: the API server returned nothing")
        return result

    def translate(self, error: ApiException, action: str) -> KubernetesError:
        """The ttg error for an API refusal of ``action``."""
        status = status_of(error)
        message = server_message(error)
        if status == 401:
            return PermissionDeniedError(
                f"the API server ({self.describe()}) refused the credentials: "
                "log in again or refresh the kubeconfig",
                status=401,
            )
        if status == 403:
            return PermissionDeniedError(
                f"not allowed to {action} in namespace {self.namespace!r} "
                f"({message}); ask for a Role that grants it "
                "(docs/kubernetes.md lists the permissions ttg needs)"
            )
        if status == 404 and namespace_missing(error):
            return NamespaceNotFoundError(self.namespace)
        if status == 409:
            return AlreadyExistsError(f"cannot {action}: {message}")
        if status == 0:
            return ClusterUnavailableError(
                f"cannot {action} ({self.describe()}): {message}"
            )
        return KubernetesError(f"cannot {action}: {status} {message}")


def status_of(error: ApiException) -> int:
    """The HTTP status, also when a websocket handshake carried it in the reason."""
    status = int(error.status or 0)
    if status == 0:
        reason = str(error.reason or "")
        for code in (401, 403, 404):
            if f"Handshake status {code}" in reason:
                return code
    return status


def server_message(error: ApiException) -> str:
    """The API server's own message from a Status body, else the reason."""
    try:
        body = json.loads(error.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"]).splitlines()[0]
    return str(error.reason or "no reason given").splitlines()[0]


def namespace_missing(error: ApiException) -> bool:
    """Whether a 404 is about the namespace rather than the object."""
    try:
        body = json.loads(error.body or "")
    except (TypeError, ValueError):
        return False
    details = body.get("details") if isinstance(body, dict) else None
    return isinstance(details, dict) and details.get("kind") == "namespaces"


def short_reason(error: BaseException) -> str:
    """The innermost reason of a urllib3 failure, on one line."""
    reason = getattr(error, "reason", None) or error
    text = str(reason).strip().splitlines()
    line = text[0] if text else type(error).__name__
    # urllib3 wraps the cause as "<Connection object>: Failed to establish ...".
    return line.split(": ", 1)[-1] if "Failed to establish" in line else line


# --- configuration -----------------------------------------------------------


def connect_cluster(
    context: str | None = None,
    namespace: str | None = None,
    kubeconfig: str | None = None,
) -> Cluster:
    """Configure the API clients from a kubeconfig, or from inside a pod.

    Args:
        context: a kubeconfig context; the current one when None.
        namespace: the namespace; else the context's, the pod's, or ``default``.
        kubeconfig: a kubeconfig path; else ``KUBECONFIG`` or ``~/.kube/config``.

    Raises:
        ClusterUnavailableError: no kubeconfig (and not in a pod), an unknown
            context, or an unreadable file.

    Note:
        Nothing is sent to the API server here; the first call tells whether
        it answers.
    """
    configuration = client.Configuration()
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]  # unannotated
            config_file=kubeconfig,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except config.ConfigException as error:
        if context is not None or kubeconfig is not None:
            raise ClusterUnavailableError(
                kubeconfig_problem(error, kubeconfig)
            ) from None
        return in_cluster(configuration, namespace)

    # One try per call: a missing cluster fails at once, and the follow loop
    # rides out a passing outage itself.
    configuration.retries = 0
    chosen = context or current_context(kubeconfig)
    namespace = namespace or context_namespace(kubeconfig, chosen) or "default"
    logger.debug("kubeconfig context %s, namespace %s", chosen, namespace)
    return Cluster(client.ApiClient(configuration), namespace, context=chosen)


def in_cluster(configuration: client.Configuration, namespace: str | None) -> Cluster:
    """The service account's configuration, when running in a pod."""
    try:
        config.load_incluster_config(  # type: ignore[no-untyped-call]  # unannotated
            client_configuration=configuration
        )
    except config.ConfigException:
        raise ClusterUnavailableError(
            "no kubeconfig found (--kubeconfig, KUBECONFIG or ~/.kube/config) and "
            f"not running inside a cluster: {NO_CLUSTER_HINT}"
        ) from None
    configuration.retries = 0
    if namespace is None and SERVICE_ACCOUNT_NAMESPACE.exists():
        namespace = SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    return Cluster(
        client.ApiClient(configuration), namespace or "default", in_cluster=True
    )


def kubeconfig_problem(error: config.ConfigException, path: str | None) -> str:
    """One line on what is wrong with the kubeconfig or the chosen context."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
    where = path or "the kubeconfig"
    if "No configuration found" in text or "does not exist" in text:
        return f"no kubeconfig at {where}: {NO_CLUSTER_HINT}"
    if "Expected object with name" in text:
        return (
            f"{where} has no such context ({text}); "
            "list them: kubectl config get-contexts"
        )
    return f"cannot use {where}: {text}"


def current_context(kubeconfig: str | None) -> str | None:
    """The kubeconfig's current context name."""
    listing = config.list_kube_config_contexts  # unannotated in the client
    _contexts, active = listing(kubeconfig)  # type: ignore[no-untyped-call]
    name = (active or {}).get("name")
    return str(name) if name else None


def context_namespace(kubeconfig: str | None, context: str | None) -> str | None:
    """The namespace a kubeconfig context names, if any."""
    listing = config.list_kube_config_contexts  # unannotated in the client
    contexts, _active = listing(kubeconfig)  # type: ignore[no-untyped-call]
    for entry in contexts or []:
        if entry.get("name") == context:
            value = (entry.get("context") or {}).get("namespace")
            return str(value) if value else None
    return None
