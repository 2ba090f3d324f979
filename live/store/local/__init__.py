"""The local store (`--store local`): one process, its state in memory, SQLite on disk."""

from .store import LocalStore

__all__ = ["LocalStore"]
