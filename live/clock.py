"""Server time: epoch milliseconds, the only clock `live` reads (and injects)."""

import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000
