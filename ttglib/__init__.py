"""ttglib: distributed parameter sweeps over a Redis Streams work queue.

A run cuts a parameter range into chunks, queues one task per chunk on a Redis
Stream, and lets workers pull tasks through a consumer group; every chunk ends
with exactly one result. See ``docs/architecture.md`` for the map.
"""

__version__ = "2.0.0"

__all__ = ["__version__"]
