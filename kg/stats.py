"""Counts of what the store holds, by class and by source record."""

from __future__ import annotations

from typing import Protocol

from kg.model import Result, Rows
from kg.prefixes import PREFIXES

BY_CLASS = """
SELECT ?class (COUNT(DISTINCT ?s) AS ?count) WHERE {
  GRAPH ?g { ?s a ?class } FILTER (?g != <https://example.org/kg/id/graph/ontology>)
}
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
            return f"{prefix}:{iri[len(namespace) :]}"
    return iri


def counts(store: Queryable) -> list[tuple[str, Rows]]:
    by_class = store.query(BY_CLASS).rows()
    by_class = Rows(by_class.columns, [[compact(c or ""), n] for c, n in by_class.values])
    return [
        ("By class", by_class),
        ("By source", store.query(BY_SOURCE).rows()),
        ("Corroboration: independent outlets per clause status or topic", corroboration_rows(store)),
        ("Most central organizations and clauses (degree centrality)", centrality_rows(store)),
    ]


def _content_label(
    labels: dict[str, str], clause: str | None, event: str | None, status: str | None, topic: str | None
) -> str:
    if topic is not None:
        return labels.get(topic, topic)
    return f"{labels.get(str(clause), clause)}: {status} ({labels.get(str(event), event)})"


def corroboration_rows(store: Queryable) -> Rows:
    """How many independent outlets support each clause status or topic (analyses excluded)."""
    from kg.analytics import Assertion, corroboration
    from kg.auditing import read_graph

    g = read_graph(store)  # type: ignore[arg-type]
    labels = {
        **g.labels,
        **{d: v["name"] for d, v in g.docs.items()},
        **{str(v["publisher"]): v["name"] for v in g.docs.values()},
    }
    assertions = []
    for claim, contents in g.contents.items():
        for c in contents:
            labels[c.key] = _content_label(g.labels, c.clause, c.event, c.status, c.topic)
            assertions.append(Assertion(claim, g.claim_doc[claim], g.claim_outlet[claim], c.key))
    analyses = {d for d, v in g.docs.items() if v["analysis"]}
    return corroboration(assertions, labels, exclude_docs=analyses)


def centrality_rows(store: Queryable) -> Rows:
    """The most central organizations and clauses in the graph of claims, clauses and outlets."""
    from kg.analytics import central_nodes
    from kg.auditing import read_graph

    g = read_graph(store)  # type: ignore[arg-type]
    labels = dict(g.labels)
    kinds: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    for claim, contents in g.contents.items():
        outlet = g.claim_outlet[claim]
        edges.append((claim, outlet))
        kinds[outlet] = "organization"
        for c in contents:
            node = c.clause or c.topic
            if node is not None:
                edges.append((claim, node))
                kinds.setdefault(node, "clause" if c.clause else "topic")
    for whole, parts in g.parts.items():
        edges += [(whole, part) for part in parts]
        kinds[whole] = "clause"
    for v in g.docs.values():
        labels[str(v["publisher"])] = v["name"]
    return central_nodes(edges, labels, kinds)
