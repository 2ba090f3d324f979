"""The data dir holds the secret that signs every token and the database of every order:
only the server's own user may read it. Modes are set explicitly (0700 for the dir, 0600
for its files), whatever the process's umask, and tightened on start when an earlier
release left them open. SQLite creates a database's `-wal` and `-shm` files with the
database file's own mode, so the database is made private before SQLite opens it."""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` (and its parents) if needed, and make it 0700."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    path.chmod(DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty if needed, and make it 0600."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    path.chmod(FILE_MODE)
    return path


def private_database(path: Path) -> Path:
    """Make a SQLite database 0600 before it is opened, and the `-wal` and `-shm` files
    an earlier run left beside it (new ones take the database's mode)."""
    private_file(path)
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.chmod(FILE_MODE)
    return path
