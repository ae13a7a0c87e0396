"""The exceptions kg raises on purpose; the CLI prints each as one ``Error:`` line."""

from __future__ import annotations

from pathlib import Path


class KgError(Exception):
    """Base for every error a user can cause; the CLI shows ``str(e)`` and exits 1."""


class SourceError(KgError):
    """A file under sources/ is malformed; the message names the file and line."""

    def __init__(self, path: Path | str, message: str, *, line: int | None = None) -> None:
        self.path, self.line = Path(path), line
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")


class QueryError(KgError):
    """A SPARQL query is invalid or cannot be run."""


class StoreError(KgError):
    """The store cannot be opened, read or written."""


class BuildLockedError(StoreError):
    """Another build holds the lock on the store."""


class NotFoundError(KgError):
    """A claim, quote, source or named query the user asked for does not exist."""


class AmbiguousError(KgError):
    """A search matched several things; the message lists them."""
