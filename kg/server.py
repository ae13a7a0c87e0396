"""`kg serve`: a SPARQL 1.1 Protocol endpoint over the store, with the views as pages.

Built on the standard library's ThreadingHTTPServer: the protocol is small, and no web framework
is worth a dependency for it. Each HTTP request runs on its own thread; each query runs in one of
a few worker processes that hold the store open read-only (through kg.store.Store). A query that
passes the timeout has its worker killed and replaced, so no query can hang a worker or the
server. Results are capped in rows; both limits answer with a plain-text error saying which limit
was hit and how to change it.

Read-only unless started with allow_update: SPARQL Update, the Graph Store Protocol's PUT, POST
and DELETE, answer 403. SERVICE is refused in every query (400), and LOAD always: the server
never reaches another host. With allow_update, INSERT DATA, DELETE DATA, CLEAR GRAPH and DROP
GRAPH on named graphs, and Graph Store Protocol writes, replace each changed graph atomically
with kg.store.replace_graph.

Routes: ``/sparql`` (``/query`` and ``/update`` are aliases), ``/store`` (Graph Store Protocol),
``/`` (landing page), ``/queries/<name>``, ``/view``, ``/trace/<id>``, ``/audit``.

This module starts and stops the server; the parts live beside it: kg.serve_pool (the query
workers), kg.serve_handler (the requests), kg.serve_formats (result formats), kg.serve_pages
(HTML) and kg.serve_writes (updates).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path

from kg.errors import StoreError
from kg.serve_handler import Handler
from kg.serve_pool import PoolStore, QueryPool

# ---------------------------------------------------------------------------------------------
# HTTP


@dataclass
class Config:
    store_path: Path
    timeout: float = 10.0
    max_rows: int = 10_000
    allow_update: bool = False


class KgHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], config: Config, pool: QueryPool) -> None:
        super().__init__(address, Handler)
        self.config, self.pool, self.store = config, pool, PoolStore(pool)
        self.write_lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{name if ':' not in name else f'[{name}]'}:{port}"


# ---------------------------------------------------------------------------------------------
# Running


class Server:
    """kg serve in a thread: start(), .url, close(). The CLI runs serve_forever() in the foreground."""

    def __init__(self, store_path: Path, *, host: str = "127.0.0.1", port: int = 7878, timeout: float = 10.0,
                 max_rows: int = 10_000, allow_update: bool = False, workers: int | None = None) -> None:
        from kg.store import Store

        Store(store_path)  # fail now, with the usual message, if there is no store
        self.config = Config(store_path, timeout, max_rows, allow_update)
        self.pool = QueryPool(store_path, size=workers or min(4, os.cpu_count() or 2), timeout=timeout,
                              max_rows=max_rows)
        try:
            self.httpd = KgHTTPServer((host, port), self.config, self.pool)
        except OSError as e:
            self.pool.close()
            raise StoreError(f"cannot listen on {host}:{port}: {e.strerror or e}. Pick another --port") from e
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.httpd.url

    def start(self) -> Server:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        daemon=True, name="kg-serve")
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        try:
            self.httpd.serve_forever(poll_interval=0.2)
        finally:
            self.close()

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self.httpd.server_close()
        self.pool.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_until_up(url: str, *, seconds: float = 20.0) -> None:
    """Block until the server at url answers (for scripts and tests)."""
    import urllib.request

    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{url}/sparql?query=ASK%7B%7D", timeout=5) as r:
                r.read()
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


__all__ = ["Server", "wait_until_up"]
