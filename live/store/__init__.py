"""Stores, chosen by URL: `local` (the default) or `local:///path/to/dir`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from ..errors import ConfigError
from .base import Actor, Event, Room, RoomState, Store, Subscription

__all__ = ["Actor", "Event", "Room", "RoomState", "Store", "Subscription", "open_store"]

SCHEMES = ("local",)


def open_store(url: str, data_dir: Path) -> Store:
    """A Store for `url`, not yet opened. `local` keeps its database in `data_dir`
    unless the URL names another directory (`local:///srv/live`)."""
    parts = urlsplit(url)
    scheme = parts.scheme or url
    if scheme == "local":
        from .local import LocalStore

        return LocalStore(Path(parts.path) if parts.scheme and parts.path else data_dir)
    raise ConfigError(f"unknown store {url!r}: this build supports {', '.join(SCHEMES)}")
