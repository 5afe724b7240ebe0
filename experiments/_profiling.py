"""Seconds spent per named step, for the profiling experiments: wrap a function with `timed`."""

from __future__ import annotations

import time
from collections.abc import Callable

SECONDS: dict[str, float] = {}


def timed(name: str, fn: Callable) -> Callable:
    """``fn``, adding the seconds each call takes to ``SECONDS[name]``."""

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        SECONDS[name] = SECONDS.get(name, 0.0) + time.perf_counter() - start
        return out

    return wrapper
