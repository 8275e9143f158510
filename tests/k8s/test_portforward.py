"""The port-forward relay, with a real Redis at the far end.

A pod's port-forward needs a websocket to a real API server; here the opener
is a plain TCP connection, which exercises the same relay.
"""

from __future__ import annotations

import socket
import threading

import pytest
import redis
from kubernetes.client.exceptions import ApiException
from redis.backoff import NoBackoff
from redis.retry import Retry

from ttglib.embedded import EmbeddedRedis
from ttglib.k8s.cluster import Cluster, status_of
from ttglib.k8s.errors import PermissionDeniedError
from ttglib.k8s.portforward import PortForward, RemoteSocket


def tcp_opener(port: int) -> RemoteSocket:
    """Open a connection to a local port."""
    return socket.create_connection(("127.0.0.1", port))


def test_redis_answers_through_the_tunnel(redis_server: EmbeddedRedis) -> None:
    with PortForward(lambda: tcp_opener(redis_server.port)) as tunnel:
        client = redis.Redis(port=tunnel.port, decode_responses=True)
        client.set("ttg:test:key", "value")

        assert tunnel.port != redis_server.port
        assert client.get("ttg:test:key") == "value"
        assert client.ping()
        client.close()


def test_each_connection_gets_its_own_remote(redis_server: EmbeddedRedis) -> None:
    opened: list[int] = []

    def counting_opener() -> RemoteSocket:
        opened.append(1)
        return tcp_opener(redis_server.port)

    with PortForward(counting_opener) as tunnel:
        clients = [redis.Redis(port=tunnel.port) for _ in range(3)]
        names = [c.client_id() for c in clients]
        for c in clients:
            c.close()

    assert len(set(names)) == 3
    assert len(opened) == 1 + 3  # the check at start, then one per connection


def test_large_values_cross_intact(redis_server: EmbeddedRedis) -> None:
    payload = bytes(range(256)) * 4096

    with PortForward(lambda: tcp_opener(redis_server.port)) as tunnel:
        client = redis.Redis(port=tunnel.port)
        client.set("ttg:test:big", payload)
        assert client.get("ttg:test:big") == payload
        client.close()


def test_close_ends_open_connections(redis_server: EmbeddedRedis) -> None:
    tunnel = PortForward(lambda: tcp_opener(redis_server.port)).start()
    client = redis.Redis(
        port=tunnel.port, socket_timeout=2, retry=Retry(NoBackoff(), 0)
    )
    client.ping()

    tunnel.close()

    with pytest.raises(redis.ConnectionError):
        client.ping()
    client.close()
    assert not [
        t for t in threading.enumerate() if t.name.startswith("ttg-port-forward")
    ]


def test_a_tunnel_that_cannot_open_fails_at_start() -> None:
    def refused() -> RemoteSocket:
        raise ApiException(status=0, reason="Handshake status 403 Forbidden")

    with pytest.raises(ApiException):
        PortForward(refused).start()


def test_websocket_refusals_map_to_their_status(cluster: Cluster) -> None:
    refusal = ApiException(status=0, reason="Handshake status 403 Forbidden -+-+- {}")

    error = cluster.translate(refusal, "port-forward to pod ttg-redis-0")

    assert status_of(refusal) == 403
    assert isinstance(error, PermissionDeniedError)
    assert "not allowed to port-forward to pod ttg-redis-0" in str(error)
