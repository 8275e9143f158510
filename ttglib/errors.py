"""The errors ttglib raises, and the exit code the CLI gives each.

Every error the harness raises on purpose derives from :class:`TtgError`::

    TtgError                      exit 1
    ├── UsageError                exit 2  bad input: fix the option or variable
    │   ├── UnknownTaskError              a task function that cannot be imported
    │   ├── RunNotFoundError              a run id that Redis does not know
    │   └── RunConflictError              a run id submitted with another spec
    ├── RedisUnavailableError     exit 2  no Redis at the address, or wrong password
    ├── RedisVersionError         exit 2  a Redis older than 6.2
    ├── EmbeddedRedisError        exit 2  no redis-server binary to start
    └── WorkerFailedError         exit 1  local workers exited with an error

The CLI prints ``error: <message>`` on one line and exits with ``exit_code``;
library callers catch the class they care about.
"""

from __future__ import annotations


class TtgError(Exception):
    """Root of every error ttglib raises on purpose."""

    exit_code = 1


class UsageError(TtgError):
    """The caller gave a value that cannot work; the message says which."""

    exit_code = 2


class UnknownTaskError(UsageError):
    """A task function given as ``module:function`` cannot be imported."""


class RunNotFoundError(UsageError):
    """The run id names no run on this Redis."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run {run_id!r} on this Redis (see 'ttg runs')")
        self.run_id = run_id


class RunConflictError(UsageError):
    """A run id was submitted again with a different spec."""


class RedisUnavailableError(TtgError):
    """Redis cannot be reached, or refused the credentials (``refused``)."""

    exit_code = 2

    def __init__(self, message: str, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class RedisVersionError(TtgError):
    """The Redis server is older than the streams features ttglib needs."""

    exit_code = 2


class EmbeddedRedisError(TtgError):
    """No ``redis-server`` binary could be found or started."""

    exit_code = 2


class WorkerFailedError(TtgError):
    """One or more local worker processes exited with an error."""
