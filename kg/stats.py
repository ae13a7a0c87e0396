"""Counts of what the store holds, by class and by source record."""

from __future__ import annotations

from typing import Protocol

from kg.model import Result, Rows
from kg.prefixes import PREFIXES

BY_CLASS = """
SELECT ?class (COUNT(DISTINCT ?s) AS ?count) WHERE { ?s a ?class }
GROUP BY ?class ORDER BY DESC(?count) ?class
"""

BY_SOURCE = """
SELECT ?file (COUNT(DISTINCT ?claim) AS ?claims) (COUNT(DISTINCT ?quote) AS ?quotes) WHERE {
  ?doc kg:recordFile ?file .
  FILTER NOT EXISTS { ?doc a np:Nanopublication }
  OPTIONAL { ?claim schema:appearance ?doc }
  OPTIONAL { ?quote schema:isPartOf ?doc }
} GROUP BY ?file ORDER BY ?file
"""


class Queryable(Protocol):
    def query(self, sparql: str) -> Result: ...


def compact(iri: str) -> str:
    """Shorten an IRI with the predeclared prefixes.

    >>> compact("https://schema.org/NewsArticle")
    'schema:NewsArticle'
    """
    for prefix, namespace in PREFIXES.items():
        if iri.startswith(namespace) and prefix != "id":
            return f"{prefix}:{iri[len(namespace):]}"
    return iri


def counts(store: Queryable) -> list[tuple[str, Rows]]:
    by_class = store.query(BY_CLASS).rows()
    by_class = Rows(by_class.columns, [[compact(c or ""), n] for c, n in by_class.values])
    return [("By class", by_class), ("By source", store.query(BY_SOURCE).rows())]
