"""Store adapters, chosen by URL: `local` (the default), `local:///path/to/dir`, or
`redis://host:6379/0` (`rediss://` for TLS; `?prefix=name` to share one Redis between
several deployments), or `redis+cluster://node:6379` for a Redis Cluster."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..clock import now_ms
from ..errors import ConfigError
from .base import Event, Hot, Store, Subscription
from .schema import Schema

__all__ = ["Event", "Hot", "Store", "Subscription", "local_dir", "open_store"]

SCHEMES = ("local", "redis", "rediss", "redis+cluster", "rediss+cluster")


def open_store(url: str, data_dir: Path, schema: Schema, hot: Hot, clock: Callable[[], int] | None = None) -> Store:
    """A store for `url`, not yet opened. `local` keeps its database in `data_dir`
    unless the URL names another directory (`local:///srv/live`)."""
    clock = clock or now_ms
    parts = urlsplit(url)
    scheme = parts.scheme or url
    if scheme == "local":
        from .local import LocalStore

        return LocalStore(local_dir(url, data_dir), schema, hot, clock)
    if scheme in ("redis", "rediss", "redis+cluster", "rediss+cluster"):
        from .redis import RedisStore

        query = dict(parse_qsl(parts.query))
        prefix = query.pop("prefix", "live")
        cluster = scheme.endswith("+cluster")
        plain = parts._replace(scheme=scheme.removesuffix("+cluster"), query=urlencode(query))
        return RedisStore(urlunsplit(plain), schema, hot, prefix=prefix, cluster=cluster, clock=clock)
    raise ConfigError(f"unknown store {url!r}: this build supports {', '.join(SCHEMES)}")


def local_dir(url: str, data_dir: Path) -> Path:
    """The directory of a local store's file: the URL's (`local:///srv/live`), else the data dir."""
    parts = urlsplit(url)
    if (parts.scheme or url) != "local":
        raise ConfigError(f"{url!r} is not a local store")
    return Path(parts.path) if parts.scheme and parts.path else data_dir
