"""The named SPARQL queries shipped in kg/sparql/: each file starts with '# <one-line description>'."""

from __future__ import annotations

from importlib import resources

from kg.errors import NotFoundError


def _files() -> dict[str, str]:
    folder = resources.files("kg").joinpath("sparql")
    return {
        entry.name.removesuffix(".rq"): entry.read_text("utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".rq")
    }


def describe(text: str) -> str:
    """The description of a query: its first comment line."""
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    return first.lstrip("#").strip()


def list_queries() -> list[tuple[str, str]]:
    """(name, description) of every named query, sorted by name."""
    return sorted((name, describe(text)) for name, text in _files().items())


def load(name: str) -> str:
    """The SPARQL text of a named query."""
    files = _files()
    if name not in files:
        raise NotFoundError(f"no named query {name!r}. Run 'kg query --list' to see them")
    return files[name]


def is_name(text: str) -> bool:
    return text in _files()
