"""map() on every core, in worker processes forked from this one, or in this process when forking is not safe."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any


def pool_map(fn: Callable[..., Any], items: Sequence[Any], *, chunksize: int = 16,
              after_fork: Callable[[], None] = lambda: None) -> list[Any]:
    """map() on every core when there is enough work and fork is available, else in this process.

    after_fork runs once the workers exist (it may start threads, which must not be forked).
    """
    import multiprocessing  # a small build never starts workers: its import is not paid there

    cores = os.cpu_count() or 1
    if len(items) < 2 or cores < 2 or "fork" not in multiprocessing.get_all_start_methods() or _threaded():
        after_fork()
        return [fn(item) for item in items]
    with multiprocessing.get_context("fork").Pool(min(cores, len(items))) as pool:
        after_fork()
        return pool.map(fn, items, chunksize=chunksize)


def _threaded() -> bool:
    """Whether this process runs other threads (say, RocksDB's), which fork() would not copy safely."""
    try:
        return len(os.listdir("/proc/self/task")) > 1  # noqa: PTH208 (a count, no Paths needed)
    except OSError:
        import threading

        return threading.active_count() > 1
