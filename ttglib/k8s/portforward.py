"""A local port that leads to a port of a pod, through the Kubernetes API.

:class:`PortForward` listens on ``127.0.0.1`` and relays every accepted
connection to a remote socket that ``open_remote`` opens. For a pod,
:func:`pod_opener` opens that socket with the API's ``portforward``
subresource (a websocket per connection), the same route as ``kubectl
port-forward`` but without needing kubectl. Any opener works, which is how
the relay is tested against a plain TCP server.

Example:
    >>> with PortForward(pod_opener(core, "ttg", "ttg-redis-0", 6379)) as tunnel:
    ...     client = redis.Redis(port=tunnel.port)               # doctest: +SKIP

Note:
    Each connection gets its own websocket; a client that opens many short
    connections pays a round trip to the API server for each. redis-py keeps
    its connections open, so a run opens only a few.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol

from kubernetes import client
from kubernetes.stream import portforward

logger = logging.getLogger(__name__)

BUFFER = 64 * 1024
# How often an idle relay looks at whether the tunnel is closing.
POLL_SECONDS = 0.5


class RemoteSocket(Protocol):
    """What the relay needs of a remote end: a socket's basic calls."""

    def fileno(self) -> int: ...

    def recv(self, size: int) -> bytes: ...

    def sendall(self, data: bytes) -> None: ...

    def close(self) -> None: ...


Opener = Callable[[], RemoteSocket]


def pod_opener(core: client.CoreV1Api, namespace: str, pod: str, port: int) -> Opener:
    """An opener of websocket port-forwards to ``pod:port``.

    The first failure (no such pod, no ``pods/portforward`` permission)
    surfaces as the client's ``ApiException``.
    """

    def open_remote() -> RemoteSocket:
        forward: Any = portforward(
            core.connect_get_namespaced_pod_portforward, pod, namespace, ports=str(port)
        )
        remote: RemoteSocket = forward.socket(port)
        return remote

    return open_remote


class PortForward:
    """Relay connections from a local port to sockets that an opener provides.

    Args:
        open_remote: opens the remote end of one connection.
        host: the local address to listen on.

    Call :meth:`start` (or enter the context) to listen; :attr:`port` is then
    the local port. :meth:`start` opens one remote connection at once, so a
    tunnel that cannot work fails there and not in the first client's read.
    """

    def __init__(self, open_remote: Opener, host: str = "127.0.0.1") -> None:
        self.open_remote = open_remote
        self.host = host
        self.port = 0
        self._listener: socket.socket | None = None
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()

    def start(self) -> PortForward:
        """Check that a remote end opens, then listen and accept in a thread."""
        self.open_remote().close()

        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(16)
        listener.settimeout(POLL_SECONDS)
        self._listener = listener
        self.port = int(listener.getsockname()[1])

        self._spawn(self._accept_loop, "ttg-port-forward")
        logger.debug("port-forward listening on %s:%d", self.host, self.port)
        return self

    def close(self) -> None:
        """Stop accepting, close every relayed connection and wait for the threads."""
        self._closing.set()
        if self._listener is not None:
            shut(self._listener)
        with self._lock:
            for local in list(self._open):
                shut(local)
        for thread in list(self._threads):
            thread.join(timeout=5)
        self._listener = None

    def __enter__(self) -> PortForward:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    # --- inside the threads ---------------------------------------------------

    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._closing.is_set():
            try:
                local, _address = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._relay, "ttg-port-forward-relay", local)

    def _relay(self, local: socket.socket) -> None:
        try:
            remote = self.open_remote()
        except Exception as error:  # the client's errors vary by transport
            logger.warning("port-forward could not open a connection: %s", error)
            shut(local)
            return

        with self._lock:
            self._open.add(local)
        try:
            pump(local, remote, self._closing)
        finally:
            with self._lock:
                self._open.discard(local)
            shut(local)
            remote.close()


def pump(local: socket.socket, remote: RemoteSocket, closing: threading.Event) -> None:
    """Copy bytes both ways until either side closes or ``closing`` is set."""
    while not closing.is_set():
        try:
            readable, _, _ = select.select([local, remote], [], [], POLL_SECONDS)
        except (OSError, ValueError):
            return
        for source in readable:
            try:
                data = source.recv(BUFFER)
            except OSError:
                return
            if not data:
                return
            target = remote if source is local else local
            try:
                target.sendall(data)
            except OSError:
                return


def shut(sock: socket.socket) -> None:
    """Shut a socket down both ways and close it, ignoring one already gone."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
