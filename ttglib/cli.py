"""The ``ttg`` command: run, submit, worker, status, report, runs, clean.

This is the only module that prints or configures logging. Every error the
harness raises on purpose is a :class:`~ttglib.errors.TtgError`; :func:`main`
turns it, and click's own usage errors, into one ``error:`` line on stderr and
the error's exit code (2 for bad input), never a traceback.

Options read the original system's environment variables (``REDIS_HOST``,
``CHUNK_SIZE``, ``WORKER_ID``, ...), so its manifests and habits keep working.
The Redis password is read from ``REDIS_PASSWORD`` or the URL only: never from
a command-line option, where other users of the machine could see it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
import redis

from ttglib import __version__
from ttglib import options as opts
from ttglib.config import (
    DEFAULT_PORT,
    RedisSettings,
    WorkerSettings,
    use_queue_mode,
)
from ttglib.errors import RunNotFoundError, TtgError, UsageError

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


# --- shared options ----------------------------------------------------------


def redis_options(function: F) -> F:
    """``--redis-url``, ``--redis-host``, ``--redis-port`` (password: environment only)."""
    function = click.option(
        "--redis-port",
        envvar="REDIS_PORT",
        type=click.IntRange(1, 65535),
        default=None,
        help=f"Redis port [env REDIS_PORT; default {DEFAULT_PORT}].",
    )(function)
    function = click.option(
        "--redis-host",
        envvar="REDIS_HOST",
        default=None,
        help="Redis host [env REDIS_HOST].",
    )(function)
    return click.option(
        "--redis-url",
        envvar="REDIS_URL",
        default=None,
        help="redis:// or rediss:// URL [env REDIS_URL]; the password may come "
        "from REDIS_PASSWORD instead.",
    )(function)


def open_client(
    url: str | None, host: str | None, port: int | None, retry_seconds: float = 0.0
) -> redis.Redis:
    """Connect to the Redis the options name (``ttg-redis:6379`` by default)."""
    from ttglib.connection import connect

    settings = RedisSettings.from_options(url, host, port, default_host=True)
    assert settings is not None
    return connect(settings, retry_seconds)


def worker_options(function: F) -> F:
    """The options a worker takes, shared by ``ttg run`` and ``ttg worker``."""
    return opts.apply(
        function,
        opts.task(),
        opts.lease_seconds(),
        opts.max_attempts(),
        opts.grace_seconds(),
        opts.idle_timeout(),
        click.option(
            "--store-values",
            is_flag=True,
            help="Keep every parameter's value in its chunk's result.",
        ),
        click.option(
            "--max-batch",
            type=opts.POSITIVE,
            default=64,
            show_default=True,
            help="Most tasks fetched in one read when chunks are quick.",
        ),
    )


# --- the group ---------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ttg")
@click.option(
    "--log-level",
    envvar="TTG_LOG_LEVEL",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="Log level on stderr [env TTG_LOG_LEVEL].",
)
def cli(log_level: str) -> None:
    """ttg: distributed parameter sweeps over a Redis Streams work queue."""
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@cli.command()
@click.option(
    "-w",
    "--workers",
    type=opts.POSITIVE,
    default=3,
    show_default=True,
    help="Local worker processes.",
)
@opts.total_params()
@opts.chunk_size()
@opts.work_ms()
@opts.mode("queue", "Dynamic queue, or the static v1.1 baseline.")
@opts.plan()
@opts.target_seconds()
@opts.run_id(None, "a new one")
@worker_options
@redis_options
@click.option("--json", "as_json", is_flag=True, help="Print only the report's JSON.")
@click.option("-v", "--verbose", is_flag=True, help="List every chunk in the report.")
@click.option(
    "--worker-log-level",
    default="WARNING",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="Log level of the worker processes.",
)
def run(**options: Any) -> None:
    """Run a sweep on this machine and print its report.

    Starts a private Redis unless one is given, starts the workers, submits the
    run once they are all waiting, shows progress and prints the report.
    """
    from ttglib.local import LocalRunner, new_run_id
    from ttglib.report import build_report

    spec = opts.run_spec(options, options["run_id"] or new_run_id())
    settings = worker_settings(options, run_id=spec.run_id, worker_id="0", mode=None)
    external = RedisSettings.from_options(
        options["redis_url"],
        options["redis_host"],
        options["redis_port"],
        default_host=False,
    )
    show_progress = sys.stderr.isatty() and not options["as_json"]
    with LocalRunner(external, worker_log_level=options["worker_log_level"]) as runner:
        outcome = runner.run(spec, settings, progress=show_progress)
        report = build_report(runner.client, spec.run_id, verbose=options["verbose"])

    if options["as_json"]:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(report.render_text(verbose=options["verbose"]))
    if outcome.failed_workers:
        raise TtgError(f"workers {outcome.failed_workers} exited with an error")
    if not report.verification.ok:
        raise TtgError(
            f"run {spec.run_id} is incomplete: "
            f"{report.verification.chunks_missing} chunks missing"
        )


@cli.command()
@opts.run_id("default")
@opts.total_params()
@opts.chunk_size()
@opts.work_ms()
@opts.mode(None, "queue or static [env USE_QUEUE=true|false; default queue].")
@opts.plan()
@opts.target_seconds()
@click.option(
    "-w",
    "--workers",
    type=opts.POSITIVE,
    default=1,
    show_default=True,
    help="Planned workers (static mode cuts by it; reports use it).",
)
@opts.task("Task function's name, recorded for the report.")
@redis_options
def submit(**options: Any) -> None:
    """Submit a run: its meta and all its tasks, once (idempotent)."""
    from ttglib.chunks import with_measured_pilot
    from ttglib.queue import RunQueue
    from ttglib.workloads import resolve_task

    options["mode"] = options["mode"] or use_queue_mode() or "queue"
    spec = opts.run_spec(options, options["run_id"])
    if spec.plan == "adaptive":
        spec = with_measured_pilot(spec, resolve_task(spec.task))
    client = open_client(
        options["redis_url"], options["redis_host"], options["redis_port"]
    )
    outcome = RunQueue(client, spec.run_id).submit(spec)
    if outcome.created:
        click.echo(
            f"submitted run {spec.run_id}: {outcome.chunks} chunks "
            f"in {outcome.seconds:.2f} s"
        )
    else:
        click.echo(f"run {spec.run_id} was already submitted: nothing added")


@cli.command()
@opts.run_id("default")
@click.option(
    "--worker-id",
    envvar="WORKER_ID",
    default="0",
    show_default=True,
    help="This worker's id; its consumer is worker-<id> [env WORKER_ID].",
)
@click.option(
    "--worker-id-offset",
    envvar="WORKER_ID_OFFSET",
    type=click.IntRange(min=0),
    default=0,
    help="Added to a numeric worker id [env WORKER_ID_OFFSET].",
)
@opts.mode(None, "Expected mode [env USE_QUEUE]; default: the run's own.")
@opts.work_ms()
@opts.total_params(None, "If set, must match the run.")
@opts.chunk_size(None, "If set, must match the run.")
@worker_options
@redis_options
@click.option("-q", "--quiet", is_flag=True, help="Do not print the final summary.")
def worker(**options: Any) -> None:
    """Pull and compute the tasks of one run until it is finished.

    The container's entrypoint. Exits 0 when the run is finished, after a
    SIGTERM drain, or after the idle timeout.
    """
    from ttglib.queue import RunQueue
    from ttglib.worker import Worker

    worker_id = str(options["worker_id"])
    if worker_id.isdigit() and options["worker_id_offset"]:
        worker_id = str(int(worker_id) + options["worker_id_offset"])
    mode = options["mode"] or use_queue_mode()
    settings = worker_settings(
        options, run_id=options["run_id"], worker_id=worker_id, mode=mode
    )
    # A worker pod may start before its Redis: keep trying for a while.
    client = open_client(
        options["redis_url"],
        options["redis_host"],
        options["redis_port"],
        retry_seconds=settings.redis_retry_seconds,
    )
    if RunQueue(client, settings.run_id).exists():
        check_matches_run(client, settings.run_id, options)

    summary = Worker(client, settings).run()
    if not options["quiet"]:
        click.echo("FINAL SUMMARY")
        click.echo(json.dumps(summary.to_dict(), indent=2))
    if summary.status == "no-run":
        raise TtgError(
            f"run {settings.run_id!r} was not submitted within "
            f"{settings.idle_timeout_seconds:.0f} s (submit it with 'ttg submit')"
        )


@cli.command()
@click.argument("run_id", required=False)
@redis_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(run_id: str | None, as_json: bool, **options: Any) -> None:
    """Show tasks queued, in flight (per worker), done and dead, for one run or all."""
    from ttglib.queue import list_runs
    from ttglib.status import run_status

    client = open_client(
        options["redis_url"], options["redis_host"], options["redis_port"]
    )
    run_ids = [run_id] if run_id else list_runs(client)
    statuses = [run_status(client, one) for one in run_ids]
    if as_json:
        click.echo(json.dumps([s.to_dict() for s in statuses], indent=2))
        return
    if not statuses:
        click.echo("no runs on this Redis")
    for one in statuses:
        click.echo(render_status(one))


@cli.command()
@click.argument("run_id", required=False)
@redis_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="List every chunk.")
def report(run_id: str | None, as_json: bool, verbose: bool, **options: Any) -> None:
    """Print a run's aggregation report (the newest run by default)."""
    from ttglib.report import build_report

    client = open_client(
        options["redis_url"], options["redis_host"], options["redis_port"]
    )
    run_id = run_id or newest_run(client)
    built = build_report(client, run_id, verbose=verbose)
    if as_json:
        click.echo(json.dumps(built.to_dict(), indent=2))
    else:
        click.echo(built.render_text(verbose=verbose))


@cli.command()
@redis_options
def runs(**options: Any) -> None:
    """List the runs on this Redis, oldest first."""
    from ttglib.queue import RunQueue, list_runs

    client = open_client(
        options["redis_url"], options["redis_host"], options["redis_port"]
    )
    run_ids = list_runs(client)
    if not run_ids:
        click.echo("no runs on this Redis")
        return
    click.echo(f"{'run':<36} {'mode':<7} {'params':>12} {'chunks':>9} {'settled':>9}")
    for run_id in run_ids:
        queue = RunQueue(client, run_id)
        try:
            meta = queue.meta()
        except RunNotFoundError:
            continue
        click.echo(
            f"{run_id:<36} {meta.spec.mode:<7} {meta.spec.total_params:>12,} "
            f"{meta.total_chunks:>9,} {queue.settled_count():>9,}"
        )


@cli.command()
@click.argument("run_ids", nargs=-1, required=True)
@redis_options
def clean(run_ids: tuple[str, ...], **options: Any) -> None:
    """Remove runs and all their keys (nothing else is touched)."""
    from ttglib.queue import RunQueue

    client = open_client(
        options["redis_url"], options["redis_host"], options["redis_port"]
    )
    for run_id in run_ids:
        queue = RunQueue(client, run_id)
        if not queue.exists() and not client.exists(queue.keys.tasks):
            raise RunNotFoundError(run_id)
        removed = queue.delete()
        click.echo(f"removed run {run_id} ({removed} keys)")


# --- helpers -------------------------------------------------------------------


def worker_settings(
    options: dict[str, Any], *, run_id: str, worker_id: str, mode: Any
) -> WorkerSettings:
    """Worker settings from the shared worker options."""
    from ttglib.workloads import resolve_task

    resolve_task(options["task"])
    return WorkerSettings(
        run_id=run_id,
        worker_id=worker_id,
        mode=mode,
        task=options["task"],
        work_ms=options["work_ms"],
        lease_seconds=options["lease_seconds"],
        max_attempts=options["max_attempts"],
        idle_timeout_seconds=options["idle_timeout"],
        grace_seconds=options["grace_seconds"],
        store_values=options["store_values"],
        max_batch=options["max_batch"],
    )


def check_matches_run(
    client: redis.Redis, run_id: str, options: dict[str, Any]
) -> None:
    """Refuse a worker whose TOTAL_PARAMS or CHUNK_SIZE contradicts its run."""
    from ttglib.queue import RunQueue

    spec = RunQueue(client, run_id).meta().spec
    for name, given, actual in (
        ("TOTAL_PARAMS", options["total_params"], spec.total_params),
        ("CHUNK_SIZE", options["chunk_size"], spec.chunk_size),
    ):
        if given is not None and given != actual:
            raise UsageError(
                f"{name} is {given} but run {run_id!r} was submitted with {actual}"
            )


def newest_run(client: redis.Redis) -> str:
    """The most recently submitted run."""
    from ttglib.queue import list_runs

    run_ids = list_runs(client)
    if not run_ids:
        raise UsageError("no runs on this Redis (start one with 'ttg run')")
    return run_ids[-1]


def render_status(status: Any) -> str:
    """A run's status as a few readable lines."""
    state = "finished" if status.finished else "running"
    lines = [
        f"run {status.run_id} ({status.mode} mode, {state})",
        f"  tasks total {status.tasks_total:,}  queued {status.queued:,}  "
        f"in flight {status.in_flight:,}  done {status.done:,}  "
        f"dead params {status.dead_params:,}",
        f"  params done {status.params_done:,} of {status.params_total:,}",
    ]
    for held in status.per_worker:
        lines.append(
            f"    {held.worker:<16} holds {held.tasks:>4} "
            f"(longest idle {held.max_idle_seconds:.1f} s)"
        )
    return "\n".join(lines)


def register_optional_groups() -> None:
    """Attach the ``k8s`` and ``notebook`` groups when their modules exist."""
    for module_name, attribute in (
        ("ttglib.k8s.cli", "k8s"),
        ("ttglib.notebook_cli", "notebook"),
    ):
        try:
            module = __import__(module_name, fromlist=[attribute])
        except ImportError:
            continue
        cli.add_command(getattr(module, attribute))


register_optional_groups()


def main() -> None:
    """The console entry point: run the group, map errors to exit codes."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        click.echo(f"error: {error.format_message()}", err=True)
        sys.exit(error.exit_code)
    except click.Abort:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    except TtgError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(error.exit_code)
    except redis.RedisError as error:
        click.echo(f"error: Redis failed: {error}", err=True)
        sys.exit(1)
