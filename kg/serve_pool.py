"""Query worker processes for `kg serve`: the pipe protocol, worker_main, QueryPool and PoolStore.

Each worker holds the store open read-only (through kg.store.Store) and runs one query at a time;
a query that passes the timeout has its worker killed and replaced.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import select
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kg.errors import KgError, QueryError
from kg.model import Result


class QueryTimeoutError(QueryError):
    """The query ran past the server's timeout; its worker was stopped."""


class TooManyRowsError(QueryError):
    """The result is larger than the server's cap."""


class BusyError(KgError):
    """No worker became free in time."""


# ---------------------------------------------------------------------------------------------
# Workers: each holds the store open read-only and runs one query at a time


def _signature(path: str) -> tuple[int, tuple[str, ...]]:
    """Changes when the store is replaced or written (new RocksDB files); read-only opens leave it."""
    try:
        folder = Path(path)
        return folder.stat().st_ino, tuple(sorted(n.name for n in folder.iterdir() if not n.name.startswith("LOG")))
    except OSError:
        return 0, ()


def _read_exactly(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            raise EOFError("the other end closed the pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _send_message(fd: int, message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(struct.pack(">Q", len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _recv_message(fd: int) -> Any:
    (size,) = struct.unpack(">Q", _read_exactly(fd, 8))
    return pickle.loads(_read_exactly(fd, size))


def worker_main(path: str, max_rows: int) -> None:
    """A query worker: answers (sparql, params) on stdin with ("ok", Result) or ("error", kind, text).

    Runs in its own process (python -c), started by QueryPool; stdout is the reply channel, so
    anything else printed goes to stderr.
    """
    import resource

    from kg.store import Store

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the server stops us
    out = os.dup(1)
    os.dup2(2, 1)  # stray prints must not corrupt the reply channel
    with contextlib.suppress(ValueError, OSError):  # a runaway result fails this worker alone
        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
    store: Any = None
    seen: tuple[int, tuple[str, ...]] | None = None
    while True:
        try:
            message = _recv_message(0)
        except (EOFError, OSError):
            return
        if message is None:
            return
        sparql, params = message
        reply: tuple[Any, ...]
        try:
            now = _signature(path)
            if store is None or now != seen:
                store = None
                store = Store(Path(path))
                seen = now
            result = store.query(sparql, params=params)
            size = len(result.terms) if result.kind == "select" else result.ntriples.count("\n")
            if size > max_rows:
                reply = ("error", "rows", f"the result has {size} rows, more than this server's cap of {max_rows} "
                         "(kg serve --max-rows). Add LIMIT, or narrow the query")
            else:
                reply = ("ok", result)
        except KgError as e:
            reply = ("error", "query", str(e))
        except MemoryError:
            reply = ("error", "query", "the query needed more memory than a worker may use. Narrow it, or add LIMIT")
        except Exception as e:  # an engine failure must not take the worker's loop down silently
            reply = ("error", "query", f"the query failed: {type(e).__name__}: {e}")
        try:
            _send_message(out, reply)
        except OSError:
            return


@dataclass(eq=False)
class _Worker:
    process: subprocess.Popen[bytes]

    @property
    def stdin(self) -> int:
        return self.process.stdin.fileno()  # type: ignore[union-attr]

    @property
    def stdout(self) -> int:
        return self.process.stdout.fileno()  # type: ignore[union-attr]


class QueryPool:
    """Worker processes running queries with a hard timeout; a killed worker is replaced.

    Workers are plain subprocesses (python -c), not multiprocessing, so nothing re-imports the
    caller's __main__ (the kg console script) in the child.
    """

    def __init__(self, store_path: Path, *, size: int, timeout: float, max_rows: int) -> None:
        self.store_path, self.timeout, self.max_rows = str(store_path), timeout, max_rows
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(max(1, size)):
            self._idle.put(self._spawn())

    def _spawn(self) -> _Worker:
        code = f"from kg.serve_pool import worker_main; worker_main({self.store_path!r}, {self.max_rows})"
        process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   bufsize=0, close_fds=True)
        worker = _Worker(process)
        with self._lock:
            self._all.add(worker)
        return worker

    def _stop(self, worker: _Worker) -> None:
        worker.process.kill()
        worker.process.wait(5)
        for stream in (worker.process.stdin, worker.process.stdout):
            if stream is not None:
                stream.close()

    def _discard(self, worker: _Worker) -> None:
        self._stop(worker)
        with self._lock:
            self._all.discard(worker)
        if not self._closed:  # replace it off the request thread, so the error is answered at once
            threading.Thread(target=self._replace, daemon=True).start()

    def _replace(self) -> None:
        if not self._closed:
            self._idle.put(self._spawn())

    def run(self, sparql: str, params: Mapping[str, str] | None = None) -> Result:
        """Run one query; QueryTimeoutError, TooManyRowsError, QueryError or BusyError on failure."""
        wait = max(self.timeout, 5.0)
        try:
            worker = self._idle.get(timeout=wait)
        except queue.Empty:
            raise BusyError(f"every query worker stayed busy for {wait:g} s. Try again later") from None
        try:
            _send_message(worker.stdin, (sparql, dict(params or {})))
            ready, _, _ = select.select([worker.stdout], [], [], self.timeout)
            if not ready:
                self._discard(worker)
                raise QueryTimeoutError(f"the query ran longer than this server's timeout of {self.timeout:g} s "
                                        "(kg serve --timeout) and was stopped. Narrow it, or add LIMIT")
            reply = _recv_message(worker.stdout)
        except (EOFError, OSError, pickle.UnpicklingError, struct.error):
            self._discard(worker)
            raise QueryError("the query stopped its worker (out of memory?). Narrow it, or add LIMIT") from None
        self._idle.put(worker)
        if reply[0] == "ok":
            return reply[1]  # type: ignore[no-any-return]
        if reply[1] == "rows":
            raise TooManyRowsError(reply[2])
        raise QueryError(reply[2])

    def close(self) -> None:
        self._closed = True
        with self._lock:
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            with contextlib.suppress(OSError):
                _send_message(worker.stdin, None)
        for worker in workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(2)
            self._stop(worker)


class PoolStore:
    """The Queryable that tracing, auditing and views use: every query goes through the pool."""

    def __init__(self, pool: QueryPool) -> None:
        self.pool = pool

    def query(self, sparql: str, *, params: Mapping[str, str] | None = None, union: bool = True) -> Result:
        return self.pool.run(sparql, params)
