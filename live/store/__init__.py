"""Stores, chosen by URL: `local` (the default), `local:///path/to/dir`, or
`redis://host:6379/0` (`rediss://` for TLS; `?prefix=name` to share one Redis between
several deployments), or `redis+cluster://node:6379` for a Redis Cluster."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from ..errors import ConfigError
from .base import Actor, Event, Room, RoomState, Store, Subscription

__all__ = ["Actor", "Event", "Room", "RoomState", "Store", "Subscription", "open_store"]

SCHEMES = ("local", "redis", "rediss", "redis+cluster", "rediss+cluster")


def open_store(url: str, data_dir: Path) -> Store:
    """A Store for `url`, not yet opened. `local` keeps its database in `data_dir`
    unless the URL names another directory (`local:///srv/live`)."""
    parts = urlsplit(url)
    scheme = parts.scheme or url
    if scheme == "local":
        from .local import LocalStore

        return LocalStore(Path(parts.path) if parts.scheme and parts.path else data_dir)
    if scheme in ("redis", "rediss", "redis+cluster", "rediss+cluster"):
        from urllib.parse import parse_qsl, urlencode, urlunsplit

        from .redis import RedisStore

        query = dict(parse_qsl(parts.query))
        prefix = query.pop("prefix", "live")
        cluster = scheme.endswith("+cluster")
        plain = parts._replace(scheme=scheme.removesuffix("+cluster"), query=urlencode(query))
        return RedisStore(urlunsplit(plain), prefix=prefix, cluster=cluster)
    raise ConfigError(f"unknown store {url!r}: this build supports {', '.join(SCHEMES)}")
