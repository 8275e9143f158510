"""Open a Redis client from :class:`~ttglib.config.RedisSettings` and vet the server.

ttglib needs Redis 6.2 or newer: XAUTOCLAIM, and XPENDING with IDLE, came in
6.2. :func:`connect` pings the server, reads its version and refuses an older
one, so a wrong address, a wrong password or an old server each fail at once
with one clear line instead of in the middle of a run.
"""

from __future__ import annotations

import logging
import time

import redis

from ttglib.config import RedisSettings
from ttglib.errors import RedisUnavailableError, RedisVersionError

logger = logging.getLogger(__name__)

MIN_VERSION = (6, 2, 0)

# A blocking read waits at most a few seconds, so a socket silent for longer
# than this means the server or the network is gone.
SOCKET_TIMEOUT_SECONDS = 30.0


def make_client(settings: RedisSettings) -> redis.Redis:
    """Build a client for ``settings`` without talking to the server yet."""
    if settings.url is not None:
        # redis-py refuses ssl_ca_certs on a plain (non-TLS) connection.
        tls_options = (
            {"ssl_ca_certs": settings.tls_ca_cert} if settings.tls_ca_cert else {}
        )
        return redis.Redis.from_url(
            settings.url,
            password=settings.password,
            decode_responses=True,
            socket_timeout=SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=5.0,
            client_name="ttglib",
            **tls_options,
        )
    return redis.Redis(
        host=settings.host,
        port=settings.port,
        password=settings.password,
        ssl=settings.tls,
        ssl_ca_certs=settings.tls_ca_cert,
        decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=5.0,
        client_name="ttglib",
    )


def connect(settings: RedisSettings, retry_seconds: float = 0.0) -> redis.Redis:
    """Open a client, ping the server and check that it is Redis 6.2 or newer.

    Args:
        retry_seconds: keep trying an unreachable server this long, with
            backoff (a worker pod may start before its Redis is ready).
            A refused password is never retried.

    Raises:
        RedisUnavailableError: nothing answers at the address, or the server
            refused the credentials.
        RedisVersionError: the server is older than 6.2.
    """
    deadline = time.monotonic() + retry_seconds
    delay = 0.2
    while True:
        try:
            return open_checked(settings)
        except RedisUnavailableError as error:
            if error.refused or time.monotonic() + delay > deadline:
                raise
            logger.warning("%s; trying again in %.1f s", error, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def open_checked(settings: RedisSettings) -> redis.Redis:
    """One attempt of :func:`connect`."""
    client = make_client(settings)
    try:
        client.ping()
        version_text = str(client.info("server").get("redis_version", "0.0.0"))
    except redis.AuthenticationError:
        raise RedisUnavailableError(
            f"Redis at {settings.display()} refused the password "
            "(check REDIS_PASSWORD or the URL)",
            refused=True,
        ) from None
    except redis.ResponseError as error:
        if "NOAUTH" in str(error) or "WRONGPASS" in str(error):
            raise RedisUnavailableError(
                f"Redis at {settings.display()} needs a password (set REDIS_PASSWORD)",
                refused=True,
            ) from None
        raise
    except (redis.ConnectionError, redis.TimeoutError) as error:
        raise RedisUnavailableError(
            f"cannot reach Redis at {settings.display()}: {describe(error)}"
        ) from None

    check_version(version_text, settings.display())
    logger.debug("connected to Redis %s at %s", version_text, settings.display())
    return client


def check_version(version_text: str, where: str) -> tuple[int, ...]:
    """Parse a server version and refuse one older than :data:`MIN_VERSION`."""
    version = parse_version(version_text)
    if version < MIN_VERSION:
        raise RedisVersionError(
            f"Redis at {where} is {version_text}; ttglib needs 6.2 or newer "
            "(XAUTOCLAIM)"
        )
    return version


def parse_version(text: str) -> tuple[int, ...]:
    """``"7.0.15"`` -> ``(7, 0, 15)``; unreadable parts count as 0."""
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def describe(error: BaseException) -> str:
    """A short reason for a connection error, first line only."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
