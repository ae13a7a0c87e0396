"""Graph analytics with networkx: who corroborates what, and which nodes are central.

This module (with kg.views) is the only one that imports networkx.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx

from kg.model import Rows


@dataclass(frozen=True)
class Assertion:
    """One claim asserting one piece of content (a clause status in a version, or a topic)."""

    claim: str
    doc: str
    outlet: str
    content: str  # e.g. "clause:<iri>|<event iri>|in-force" or "topic:<iri>"


def claim_graph(assertions: Iterable[Assertion]) -> nx.MultiDiGraph:
    """claim -asserts-> content, claim -appears-in-> document, document -published-by-> outlet."""
    g = nx.MultiDiGraph()
    for a in assertions:
        g.add_node(a.claim, kind="claim")
        g.add_node(a.content, kind="content")
        g.add_node(a.doc, kind="document")
        g.add_node(a.outlet, kind="outlet")
        g.add_edge(a.claim, a.content, key="asserts")
        g.add_edge(a.claim, a.doc, key="appears-in")
        g.add_edge(a.doc, a.outlet, key="published-by")
    return g


def supporting_outlets(g: nx.MultiDiGraph, content: str, *, exclude_docs: set[str]) -> dict[str, set[str]]:
    """Outlet -> the documents through which it supports content (one outlet counts once,
    however many copies or stories of its own repeat the content)."""
    found: dict[str, set[str]] = {}
    if content not in g:
        return found
    for claim in g.predecessors(content):
        for _, doc, key in g.out_edges(claim, keys=True):
            if key != "appears-in" or doc in exclude_docs:
                continue
            for _, outlet, k in g.out_edges(doc, keys=True):
                if k == "published-by":
                    found.setdefault(outlet, set()).add(doc)
    return found


def corroboration(assertions: list[Assertion], labels: dict[str, str], *, exclude_docs: set[str]) -> Rows:
    """How many independent outlets support each piece of content, most corroborated first."""
    g = claim_graph(assertions)
    rows = []
    for content in {a.content for a in assertions}:
        outlets = supporting_outlets(g, content, exclude_docs=exclude_docs)
        names = sorted(labels.get(o, o) for o in outlets)
        rows.append([labels.get(content, content), str(len(outlets)), ", ".join(names)])
    rows.sort(key=lambda r: (-int(r[1]), r[0]))
    return Rows(["content", "outlets", "who"], rows)  # type: ignore[arg-type]


def central_nodes(
    edges: Iterable[tuple[str, str]], labels: dict[str, str], kinds: dict[str, str], *, top: int = 10
) -> Rows:
    """Organizations and clauses ranked by degree centrality in the claims graph."""
    g = nx.Graph()
    g.add_edges_from(edges)
    if g.number_of_nodes() == 0:
        return Rows(["node", "kind", "centrality"], [])
    ranking = nx.degree_centrality(g)
    chosen = [n for n in g.nodes if kinds.get(n) in ("organization", "clause")]
    chosen.sort(key=lambda n: (-ranking[n], labels.get(n, n)))
    return Rows(
        ["node", "kind", "centrality"], [[labels.get(n, n), kinds[n], f"{ranking[n]:.3f}"] for n in chosen[:top]]
    )
