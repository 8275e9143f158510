"""``ttg k8s``: deploy Redis, run, scale and inspect sweeps on a Kubernetes cluster.

The group's options choose the cluster (``--kubeconfig``, ``--context``) and
the namespace; each command builds a :class:`~ttglib.k8s.launcher.KubeLauncher`
for them. The ``kubernetes`` package is imported only when a command runs, so
``ttg --help`` works without the ``k8s`` extra.

Progress goes to stderr, reports and file lists to stdout. Errors are
:class:`~ttglib.errors.TtgError` subclasses, which ``ttg`` shows as one
``error:`` line with the error's exit code.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ttglib import options as opts
from ttglib.errors import TtgError, UsageError

if TYPE_CHECKING:
    from ttglib.k8s.launcher import KubeLauncher
    from ttglib.k8s.objects import JobOptions
    from ttglib.k8s.observe import Snapshot

F = TypeVar("F", bound=Callable[..., Any])

POSITIVE, NON_NEGATIVE, SECONDS = opts.POSITIVE, opts.NON_NEGATIVE, opts.SECONDS
INSTALL_HINT = "the k8s commands need the Kubernetes client: pip install 'ttglib[k8s]'"
# A progress line is repeated at least this often even when nothing changed.
HEARTBEAT_SECONDS = 15.0


@dataclass(frozen=True)
class Target:
    """The cluster and namespace the group's options name."""

    context: str | None
    namespace: str | None
    kubeconfig: str | None

    def launcher(self, **options: Any) -> KubeLauncher:
        """A launcher for this target (imports the Kubernetes client)."""
        require_kubernetes()
        from ttglib.k8s.launcher import KubeLauncher

        return KubeLauncher.connect(
            self.context, self.namespace, kubeconfig=self.kubeconfig, **options
        )


pass_target = click.make_pass_decorator(Target)


def require_kubernetes() -> None:
    """Raise a usage error naming the extra when the client is missing."""
    try:
        import kubernetes  # noqa: F401
    except ImportError:
        raise UsageError(INSTALL_HINT) from None


@click.group("k8s")
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False),
    default=None,
    help="kubeconfig file [default: KUBECONFIG, else ~/.kube/config; in a pod, "
    "its service account].",
)
@click.option(
    "--context",
    envvar="TTG_K8S_CONTEXT",
    default=None,
    help="kubeconfig context, e.g. kind-ttg-sandbox [env TTG_K8S_CONTEXT; "
    "default: the current one].",
)
@click.option(
    "-n",
    "--namespace",
    envvar="TTG_K8S_NAMESPACE",
    default=None,
    help="Namespace [env TTG_K8S_NAMESPACE; default: the context's, else 'default'].",
)
@click.pass_context
def k8s(
    ctx: click.Context,
    kubeconfig: str | None,
    context: str | None,
    namespace: str | None,
) -> None:
    """Run sweeps on a Kubernetes cluster.

    Deploy Redis (up), run and follow a sweep (run), add workers (scale), read
    the workers' logs (logs), remove it all (down), or write the manifests for
    kubectl (render).
    """
    ctx.obj = Target(context, namespace, kubeconfig)


# --- Redis -------------------------------------------------------------------


@k8s.command()
@click.option(
    "--create-namespace", is_flag=True, help="Create the namespace if it is missing."
)
@click.option(
    "--wait-seconds",
    type=NON_NEGATIVE,
    default=180.0,
    show_default=True,
    help="Wait this long for Redis to be ready (0: do not wait).",
)
@click.option(
    "--redis-image", default=None, help="Redis image [default redis:7.2-alpine]."
)
@click.option(
    "--storage",
    default="1Gi",
    show_default=True,
    help="Redis volume size (at creation only).",
)
@click.option(
    "--storage-class",
    default=None,
    help="Redis volume StorageClass (at creation only).",
)
@pass_target
def up(
    target: Target,
    create_namespace: bool,
    wait_seconds: float,
    redis_image: str | None,
    storage: str,
    storage_class: str | None,
) -> None:
    """Deploy Redis with its password Secret.

    Creates or updates the Secret ttg-redis-auth, the Service ttg-redis, the
    StatefulSet ttg-redis and its NetworkPolicy. A new Secret gets a random
    password (never shown); an existing one is kept.
    """
    launcher = target.launcher()
    from ttglib.k8s.objects import REDIS_IMAGE, RedisOptions

    options = RedisOptions(
        image=redis_image or REDIS_IMAGE, storage=storage, storage_class=storage_class
    )
    outcome = launcher.up(
        options,
        create_namespace=create_namespace,
        wait_seconds=wait_seconds or None,
    )
    secret = "created with a new password" if outcome.secret_created else "kept"
    click.echo(f"namespace {outcome.namespace}: secret {secret}")
    for name in outcome.applied:
        click.echo(f"  applied {name}")
    click.echo("Redis is ready" if wait_seconds else "Redis is starting")


@k8s.command()
@click.option(
    "--purge",
    is_flag=True,
    help="Also delete the password Secret and Redis's volume: every run's data.",
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask before --purge.")
@pass_target
def down(target: Target, purge: bool, yes: bool) -> None:
    """Delete every worker Job and Redis (data kept unless --purge)."""
    launcher = target.launcher()
    if purge and not yes:
        click.confirm(
            f"Delete Redis's data and password in namespace {launcher.namespace}?",
            abort=True,
        )
    deleted = launcher.down(purge=purge)
    if not deleted:
        click.echo(f"nothing to delete in namespace {launcher.namespace}")
    for name in deleted:
        click.echo(f"deleted {name}")


# --- runs --------------------------------------------------------------------


def run_options(function: F) -> F:
    """The run's shape, as ``ttg run`` takes it."""
    return opts.apply(
        function,
        opts.run_id(None, "a new one"),
        click.option(
            "-w",
            "--workers",
            type=POSITIVE,
            default=3,
            show_default=True,
            help="Worker pods.",
        ),
        opts.total_params(),
        opts.chunk_size(),
        opts.work_ms(),
        opts.mode("queue", "Dynamic queue, or the static v1.1 baseline."),
        opts.plan(),
        opts.target_seconds(),
        opts.task("Task function: 'reference' or module:function (in the image)."),
    )


def pod_options(function: F) -> F:
    """The worker pods' image, resources and worker options."""
    options = [
        click.option(
            "--image",
            default=None,
            help="Worker image [default ttg-worker:v<version>].",
        ),
        click.option(
            "--image-pull-policy",
            default="IfNotPresent",
            show_default=True,
            type=click.Choice(["IfNotPresent", "Always", "Never"]),
        ),
        click.option(
            "--cpu", default="250m", show_default=True, help="CPU request per pod."
        ),
        click.option(
            "--memory",
            default="128Mi",
            show_default=True,
            help="Memory request per pod.",
        ),
        click.option("--cpu-limit", default="1", show_default=True),
        click.option("--memory-limit", default="256Mi", show_default=True),
        opts.lease_seconds(),
        opts.max_attempts(None),
        opts.grace_seconds(),
        opts.idle_timeout(),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def job_options(options: dict[str, Any]) -> JobOptions:
    """Job options from :func:`pod_options`."""
    from ttglib.k8s.objects import WORKER_IMAGE, JobOptions

    return JobOptions(
        image=options["image"] or WORKER_IMAGE,
        image_pull_policy=options["image_pull_policy"],
        cpu_request=options["cpu"],
        memory_request=options["memory"],
        cpu_limit=options["cpu_limit"],
        memory_limit=options["memory_limit"],
        lease_seconds=options["lease_seconds"],
        max_attempts=options["max_attempts"],
        grace_seconds=options["grace_seconds"],
        idle_timeout_seconds=options["idle_timeout"],
    )


@k8s.command()
@run_options
@pod_options
@click.option(
    "--redis-url",
    default=None,
    help="Reach Redis here (e.g. your own port-forward) instead of through a "
    "port-forward of ttg-redis-0; the password still comes from the Secret.",
)
@click.option(
    "--timeout",
    type=SECONDS,
    default=None,
    help="Stop following after this many seconds (the workers go on).",
)
@click.option(
    "--detach", is_flag=True, help="Submit and start the workers, then return."
)
@click.option("--json", "as_json", is_flag=True, help="Print only the report's JSON.")
@click.option("-v", "--verbose", is_flag=True, help="List every chunk in the report.")
@pass_target
def run(target: Target, /, **options: Any) -> None:
    """Run a sweep on the cluster and print its report.

    Starts the worker Job, submits the run once its workers are up, and
    follows pods and queue together. The run is complete when its queue
    says every chunk is settled, whatever the pods do.
    """
    from ttglib.local import new_run_id

    spec = opts.run_spec(options, options["run_id"] or new_run_id())
    pods = job_options(options)
    launcher = target.launcher(redis_url=options["redis_url"])
    click.echo(
        f"run {spec.run_id}: {spec.workers} workers in namespace {launcher.namespace}",
        err=True,
    )

    if options["detach"]:
        from ttglib.queue import RunQueue

        with launcher.redis_client() as connection:
            launcher.launch(RunQueue(connection, spec.run_id), spec, pods)
        click.echo(
            f"started run {spec.run_id}; follow it with 'ttg k8s logs {spec.run_id}'"
        )
        return

    report = launcher.run(
        spec, pods, on_progress=ProgressPrinter(), timeout=options["timeout"]
    )
    if options["as_json"]:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(report.render_text(verbose=options["verbose"]))
    if not report.verification.ok:
        raise TtgError(
            f"run {spec.run_id} is incomplete: "
            f"{report.verification.chunks_missing} chunks missing"
        )


class ProgressPrinter:
    """Print a snapshot's line on stderr when it changes, and now and then."""

    def __init__(self) -> None:
        self.last_line = ""
        self.last_time = 0.0

    def __call__(self, snapshot: Snapshot) -> None:
        line = snapshot.describe()
        steady = line.rsplit(" | ", 1)[0]
        now = time.monotonic()
        if steady != self.last_line or now - self.last_time >= HEARTBEAT_SECONDS:
            click.echo(line, err=True)
            self.last_line, self.last_time = steady, now


@k8s.command()
@click.argument("run_id")
@click.argument("workers", type=POSITIVE)
@pass_target
def scale(target: Target, run_id: str, workers: int) -> None:
    """Add WORKERS pods to a running queue-mode run.

    The new pods come as another Job like the run's first, with worker ids
    after those already used; workers may join a run at any time.
    """
    name = target.launcher().scale(run_id, workers)
    click.echo(f"added {workers} workers to run {run_id} (job {name})")


@k8s.command()
@click.argument("run_id")
@click.option(
    "--tail", type=POSITIVE, default=None, help="Last lines of each pod only."
)
@pass_target
def logs(target: Target, run_id: str, tail: int | None) -> None:
    """Print the worker logs of a run's pods, pod by pod.

    To follow them live: kubectl logs -l ttg.io/run=RUN_ID -f --prefix
    """
    found = target.launcher().logs(run_id, tail=tail)
    if not found:
        click.echo(f"run {run_id} has no pods (yet, or any more)")
    for entry in found:
        click.echo(f"==> {entry.pod} <==")
        click.echo(entry.text.rstrip("\n"))


# --- manifests ---------------------------------------------------------------


@k8s.command()
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("k8s"),
    show_default=True,
    help="Where kind-config.yaml and manifests/ go.",
)
@click.option("-w", "--workers", type=POSITIVE, default=3, show_default=True)
@click.option("--total-params", type=POSITIVE, default=10_000, show_default=True)
@click.option("--chunk-size", type=POSITIVE, default=100, show_default=True)
@click.option("--work-ms", type=NON_NEGATIVE, default=1.0, show_default=True)
@click.option(
    "--image", default=None, help="Worker image [default ttg-worker:v<version>]."
)
def render(
    output_dir: Path,
    workers: int,
    total_params: int,
    chunk_size: int,
    work_ms: float,
    image: str | None,
) -> None:
    """Write the manifests for 'kubectl apply' (no cluster needed)."""
    require_kubernetes()
    from ttglib.k8s.objects import WORKER_IMAGE, JobOptions
    from ttglib.k8s.render import RenderOptions, write_manifests

    options = RenderOptions(
        workers=workers,
        total_params=total_params,
        chunk_size=chunk_size,
        work_ms=work_ms,
        job=JobOptions(image=image or WORKER_IMAGE, submit_in_pod=True),
    )
    for path in write_manifests(output_dir, options):
        click.echo(str(path))
