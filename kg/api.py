"""The Python API in one place: open the store, run named or ad-hoc queries, trace, audit.

Example (after `kg build`)::

    from kg.api import open_store, run_named, trace
    store = open_store(".kg/store")
    run_named(store, "quote-origins").dicts()[0]
    trace(store, "buildloop-analysis-post/q5")["quote"]["origin"]["dropped"]
"""

from __future__ import annotations

from pathlib import Path

from kg.auditing import audit
from kg.model import Result, Rows
from kg.queries import list_queries, load
from kg.store import Store
from kg.tracing import trace, trace_source

__all__ = ["audit", "list_queries", "open_store", "query", "run_named", "trace", "trace_source"]


def open_store(path: str | Path = ".kg/store") -> Store:
    """The store `kg build` wrote (read-only)."""
    return Store(Path(path))


def query(store: Store, sparql: str, **params: str) -> Result:
    """Run SPARQL (SELECT, ASK, CONSTRUCT, DESCRIBE); params bind ?name to `<iri>`, prefix:name or text."""
    return store.query(sparql, params=params)


def run_named(store: Store, name: str, **params: str) -> Rows:
    """Run a named query from `kg query --list` and return its rows."""
    return store.select(load(name), params=params)
