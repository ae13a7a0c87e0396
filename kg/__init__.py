"""kg: a knowledge graph that traces news claims back to their sources.

The public API is imported lazily, so ``import kg`` (and ``kg --help``) stays fast:

>>> import kg
>>> sorted(kg.__all__)[:3]
['Store', 'audit', 'build']
"""

from __future__ import annotations

import importlib
from typing import Any

_API = {
    "build": "kg.pipeline",
    "Store": "kg.store",
    "read_corpus": "kg.records",
    "validate": "kg.validate",
    "trace": "kg.tracing",
    "audit": "kg.auditing",
    "list_queries": "kg.queries",
    "run_named": "kg.api",
    "open_store": "kg.api",
    "query": "kg.api",
    "trace_source": "kg.tracing",
}
__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'kg' has no attribute {name!r}")
