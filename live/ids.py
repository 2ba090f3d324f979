"""Random ids, from the OS's CSPRNG, read in blocks.

A `getrandom` call costs about 25 µs on some hosts (sandboxed kernels), and a tracked
link mints a viewer id per new phone: reading 4 KiB at a time and slicing it makes an
id cost a fraction of a microsecond, with the same randomness. Ids are made on the
event loop's thread; the buffer is not shared across threads, and a forked child
starts with none.
"""

from __future__ import annotations

import base64
import os

BLOCK = 4096
_buffer = b""


def _forget() -> None:
    global _buffer
    _buffer = b""


# A forked worker must not hand out the bytes its parent will hand out too.
os.register_at_fork(after_in_child=_forget)


def random_bytes(n: int) -> bytes:
    global _buffer
    if len(_buffer) < n:
        _buffer = os.urandom(max(BLOCK, n))
    out, _buffer = _buffer[:n], _buffer[n:]
    return out


def token(nbytes: int) -> str:
    """Like `secrets.token_urlsafe(nbytes)`."""
    return base64.urlsafe_b64encode(random_bytes(nbytes)).rstrip(b"=").decode()


def hex_token(nbytes: int) -> str:
    """Like `secrets.token_hex(nbytes)`."""
    return random_bytes(nbytes).hex()
