"""Configuration: where Redis is, what a run is, how a worker behaves.

Three frozen dataclasses carry every setting. The CLI builds them from its
options (each option also reads the original system's environment variable);
library callers build them directly or through :meth:`RedisSettings.from_env`.
This is the only module that reads ``os.environ``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from ttglib.errors import UsageError
from ttglib.keys import valid_run_id

Mode = Literal["queue", "static"]
MODES: tuple[Mode, ...] = ("queue", "static")

# Plans whose chunks depend on the worker count, or on the cost model.
PLANS_BY_WORKERS = frozenset({"static", "guided"})
PLANS_BY_COST = frozenset({"adaptive"})

DEFAULT_HOST = "ttg-redis"
DEFAULT_PORT = 6379


@dataclass(frozen=True)
class RedisSettings:
    """How to reach Redis.

    Either ``url`` (``redis://`` or ``rediss://``) or ``host``/``port`` is set.
    The password is kept out of ``repr`` and out of :meth:`display`.
    """

    url: str | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    tls_ca_cert: str | None = None

    def __post_init__(self) -> None:
        if self.url is not None:
            scheme = urlsplit(self.url).scheme
            if scheme not in ("redis", "rediss", "unix"):
                raise UsageError(
                    f"Redis URL must start with redis:// or rediss://, not {scheme}://"
                )
        if not 0 < self.port < 65536:
            raise UsageError(f"Redis port must be 1-65535, not {self.port}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RedisSettings | None:
        """Read ``REDIS_URL``, or ``REDIS_HOST``/``REDIS_PORT``; None if neither is set.

        ``REDIS_PASSWORD``, ``REDIS_TLS`` and ``REDIS_TLS_CA_CERT`` apply to both.
        """
        env = os.environ if environ is None else environ
        port = env.get("REDIS_PORT")
        return cls.from_options(
            env.get("REDIS_URL"),
            env.get("REDIS_HOST"),
            parse_int("REDIS_PORT", port) if port else None,
            default_host=False,
            environ=env,
        )

    @classmethod
    def from_options(
        cls,
        url: str | None,
        host: str | None,
        port: int | None,
        *,
        default_host: bool,
        environ: Mapping[str, str] | None = None,
    ) -> RedisSettings | None:
        """Settings from an address plus the password and TLS variables.

        Args:
            url: a ``redis://`` or ``rediss://`` URL; wins over host and port.
            host: a host name; ``localhost`` when only a port is given.
            port: a port.
            default_host: with no address at all, use the original system's
                ``ttg-redis:6379`` instead of returning None.
            environ: where ``REDIS_PASSWORD``, ``REDIS_TLS`` and
                ``REDIS_TLS_CA_CERT`` are read; ``os.environ`` by default.
        """
        env = os.environ if environ is None else environ
        password = env.get("REDIS_PASSWORD") or None
        tls = env.get("REDIS_TLS", "").lower() in ("1", "true", "yes")
        ca_cert = env.get("REDIS_TLS_CA_CERT") or None
        if url:
            return cls(url=url, password=password, tls=tls, tls_ca_cert=ca_cert)
        if host or port:
            return cls(
                host=host or "localhost",
                port=port or DEFAULT_PORT,
                password=password,
                tls=tls,
                tls_ca_cert=ca_cert,
            )
        if default_host:
            return cls(password=password, tls=tls, tls_ca_cert=ca_cert)
        return None

    def display(self) -> str:
        """The address without credentials, safe for logs and errors."""
        if self.url is None:
            scheme = "rediss" if self.tls else "redis"
            return f"{scheme}://{self.host}:{self.port}"
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        path = parts.path if parts.path not in ("", "/") else ""
        return f"{parts.scheme}://{host}{port}{path}"

    def url_with_password(self) -> str:
        """A full URL, password included, for child processes' environment only."""
        if self.url is not None:
            return self.url
        scheme = "rediss" if self.tls else "redis"
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"{scheme}://{auth}{self.host}:{self.port}/0"


@dataclass(frozen=True)
class RunSpec:
    """What a run computes and how its range is cut.

    Attributes:
        run_id: the run's name and key namespace.
        total_params: parameters ``0 .. total_params - 1``.
        chunk_size: parameters per chunk.
        mode: ``queue`` (dynamic pull) or ``static`` (fixed range per worker).
        workers: planned worker count; static mode cuts by it, reports use it.
        work_ms: simulated work per parameter, as declared by the launcher.
        task: the task function's name, recorded for the report.
        plan: how chunks are cut (``fixed``, ``static``, ``guided``, ``adaptive``).
        cost_model: the per-parameter cost model, as a JSON-able mapping.
        plan_options: the plan's inputs beyond the fields above, JSON-able.
            ``adaptive`` reads ``target_seconds`` (the chunk duration it aims
            at) and ``measured_ms`` (the task function's own time per
            parameter, window by window, from :func:`ttglib.chunks.measure_task`).
    """

    run_id: str
    total_params: int = 10_000
    chunk_size: int = 100
    mode: Mode = "queue"
    workers: int = 1
    work_ms: float = 1.0
    task: str = "reference"
    plan: str = "fixed"
    cost_model: dict[str, Any] | None = None
    plan_options: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not valid_run_id(self.run_id):
            raise UsageError(
                f"run id {self.run_id!r} must be 1-64 letters, digits, '.', '_' or '-'"
            )
        require_positive("total params", self.total_params)
        require_positive("chunk size", self.chunk_size)
        require_positive("workers", self.workers)
        if self.work_ms < 0:
            raise UsageError(f"work ms must be 0 or more, not {self.work_ms}")
        if self.mode not in MODES:
            raise UsageError(f"mode must be 'queue' or 'static', not {self.mode!r}")

    def to_json(self) -> str:
        """The spec as JSON, as stored in the run's meta."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        """Rebuild a spec stored by :meth:`to_json`, ignoring unknown fields."""
        data = json.loads(text)
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)

    def same_work(self, other: RunSpec) -> bool:
        """Tell whether two specs cut the same range the same way.

        A measured pilot (``plan_options["measured_ms"]``) is left out: timing
        the task again gives other figures, and the stored plan stands.
        """
        plan = "static" if self.mode == "static" else self.plan
        return (
            self.total_params == other.total_params
            and self.chunk_size == other.chunk_size
            and self.mode == other.mode
            and self.plan == other.plan
            and (plan not in PLANS_BY_WORKERS or self.workers == other.workers)
            and (plan not in PLANS_BY_COST or self.cost_model == other.cost_model)
            and (plan not in PLANS_BY_COST or self.target() == other.target())
        )

    def target(self) -> float | None:
        """The chunk duration the adaptive plan aims at, if one was given."""
        value = (self.plan_options or {}).get("target_seconds")
        return None if value is None else float(value)


@dataclass(frozen=True)
class WorkerSettings:
    """How one worker behaves.

    Attributes:
        run_id: the run to work on.
        worker_id: the worker's id; its consumer name is ``worker-<id>``.
        mode: ``queue`` or ``static``; None takes the run's own mode.
        task: ``reference`` or ``module:function``.
        work_ms: simulated work per parameter for the reference task.
        lease_seconds: how long a silent worker keeps a task before others take it.
        max_attempts: deliveries of a failing chunk before it is narrowed down.
        idle_timeout_seconds: give up after this long with nothing to do.
        grace_seconds: on SIGTERM, time left to finish the current chunk.
        store_values: keep per-parameter values in each result.
        batch_seconds: target compute time of the tasks fetched in one read.
        max_batch: most tasks fetched in one read.
        redis_retry_seconds: how long to ride out a lost Redis connection.
    """

    run_id: str = "default"
    worker_id: str = "0"
    mode: Mode | None = None
    task: str = "reference"
    work_ms: float = 1.0
    lease_seconds: float = 10.0
    max_attempts: int = 3
    idle_timeout_seconds: float = 30.0
    grace_seconds: float = 20.0
    store_values: bool = False
    batch_seconds: float = 0.02
    max_batch: int = 64
    redis_retry_seconds: float = 60.0

    def __post_init__(self) -> None:
        if not valid_run_id(self.run_id):
            raise UsageError(
                f"run id {self.run_id!r} must be 1-64 letters, digits, '.', '_' or '-'"
            )
        if not self.worker_id or any(c.isspace() for c in self.worker_id):
            raise UsageError(f"worker id {self.worker_id!r} must be a word")
        if self.lease_seconds <= 0:
            raise UsageError(f"lease seconds must be above 0, not {self.lease_seconds}")
        require_positive("max attempts", self.max_attempts)
        require_positive("max batch", self.max_batch)
        if self.work_ms < 0:
            raise UsageError(f"work ms must be 0 or more, not {self.work_ms}")
        if self.idle_timeout_seconds <= 0:
            raise UsageError("idle timeout seconds must be above 0")
        if self.grace_seconds < 0:
            raise UsageError("grace seconds must be 0 or more")
        if self.mode is not None and self.mode not in MODES:
            raise UsageError(f"mode must be 'queue' or 'static', not {self.mode!r}")


def require_positive(name: str, value: int) -> None:
    """Raise :class:`UsageError` unless ``value`` is a whole number above 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UsageError(f"{name} must be a whole number above 0, not {value!r}")


def parse_int(name: str, value: str | int) -> int:
    """Parse an integer setting, naming the setting when it is not one."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be a whole number, not {value!r}") from None


def mode_from_use_queue(value: str | None) -> Mode | None:
    """Map the original ``USE_QUEUE`` variable to a mode (None when unset)."""
    if value is None or value == "":
        return None
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return "queue"
    if lowered in ("0", "false", "no", "off"):
        return "static"
    raise UsageError(f"USE_QUEUE must be true or false, not {value!r}")


def use_queue_mode(environ: Mapping[str, str] | None = None) -> Mode | None:
    """The mode the ``USE_QUEUE`` variable asks for, None when it is unset."""
    env = os.environ if environ is None else environ
    return mode_from_use_queue(env.get("USE_QUEUE"))
