"""The Redis store (`--store redis://host:6379/0`): many workers, one shared Redis."""

from .store import RedisStore

__all__ = ["RedisStore"]
