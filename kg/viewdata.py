"""Views of the graph as plain data: which nodes and edges to draw, with names, details and folding.

A :class:`ViewGraph` is what :func:`kg.views.render_html` draws. It is built from the store with
SPARQL only; this module imports neither networkx nor pyvis. Selections:

- :func:`whole_graph`: the domain graph (not the ontology graph), with a node cap;
- :func:`neighbourhood`: the nodes within ``depth`` hops of one node;
- :func:`from_construct`: the triples of a CONSTRUCT query;
- :func:`from_edges`: any edge list (trace and audit views build on it).

Provenance is folded by default: quotes, anchors, copies, matches, sections and audit findings are
``collapsed_under`` the claim or source they hang from, so the first view reads
company → clause version/status → clause, and a click on the claim unfolds its evidence.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from kg.errors import NotFoundError, QueryError
from kg.view_describe import (
    ID_BASE,
    KINDS,
    ONTOLOGY_GRAPH,
    Describer,
    Queryable,
    assertions,
    fallback_label,
    kind_of,
    local_name,
    node_types,
    verdicts,
    with_related,
)

__all__ = [
    "KINDS",
    "Queryable",
    "ViewEdge",
    "ViewGraph",
    "ViewNode",
    "from_construct",
    "from_edges",
    "neighbourhood",
    "resolve_node",
    "whole_graph",
]

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
ASSERTS = "asserts"
SOURCES = ("article", "announcement", "analysis")
# Kept first when a cap applies: the structure of the deal, then sources and claims, then provenance.
PRIORITY = (
    "organization",
    "outlet",
    "clause",
    "clause-version",
    "event",
    "topic",
    "announcement",
    "article",
    "analysis",
    "claim",
    "finding",
    "other",
    "quote",
    "match",
    "copy",
)
EDGES = f"""
SELECT DISTINCT ?s ?p ?o WHERE {{
  GRAPH ?g {{ ?s ?p ?o }} FILTER (isIRI(?o) && ?p != rdf:type && ?g != <{ONTOLOGY_GRAPH}>)
}}
"""

Edge = tuple[str, str, str]


@dataclass(frozen=True)
class ViewNode:
    id: str  # the IRI
    label: str  # a human name, never an IRI
    kind: str  # one of KINDS
    details: tuple[tuple[str, str], ...] = ()  # (field, text), in reading order
    url: str | None = None  # http(s) only
    outlet: str | None = None  # outlet or company name, for the outlet filter
    collapsed_under: str | None = None  # id of the node this one is folded into
    tag: str | None = None  # an extra colour key, e.g. an audit verdict


@dataclass(frozen=True)
class ViewEdge:
    id: str
    source: str
    target: str
    label: str  # short predicate name


@dataclass(frozen=True)
class ViewGraph:
    nodes: tuple[ViewNode, ...]
    edges: tuple[ViewEdge, ...]
    omitted: int = 0  # nodes left out by the cap
    omitted_by_kind: tuple[tuple[str, int], ...] = ()
    focus: str | None = None

    def node(self, node_id: str) -> ViewNode | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    def left_out(self) -> str:
        """'quote: 12, copy: 3' for the nodes the cap left out."""
        return ", ".join(f"{kind}: {n}" for kind, n in self.omitted_by_kind)


@dataclass(frozen=True)
class _Domain:
    kinds: dict[str, tuple[str, str | None]]  # IRI -> (kind, role of an 'other' node)
    edges: list[Edge]  # (subject, predicate IRI or 'asserts: status', object), both ends domain nodes


def _domain(store: Queryable) -> _Domain:
    kinds = {iri: k for iri, types in node_types(store).items() if (k := kind_of(types))[0]}
    edges: list[Edge] = [
        (s.value, p.value, o.value)
        for s, p, o in store.query(EDGES).terms
        if s and p and o and s.value in kinds and o.value in kinds
    ]
    for claim, pairs in assertions(store).items():
        edges += [
            (claim, f"{ASSERTS}: {status}" if status else ASSERTS, x)
            for x, status in pairs
            if claim in kinds and x in kinds
        ]
    return _Domain(kinds, sorted(set(edges)))


def _rank(kinds: Mapping[str, tuple[str, str | None]], degree: Mapping[str, int]) -> list[str]:
    def key(iri: str) -> tuple[int, int, int, str]:
        kind, role = kinds.get(iri, ("other", None))
        return (PRIORITY.index(kind) if kind in PRIORITY else len(PRIORITY), role == "anchor", -degree.get(iri, 0), iri)

    return sorted(kinds, key=key)


def whole_graph(store: Queryable, *, limit: int | None = 500, collapse: bool = True) -> ViewGraph:
    """The domain graph: every typed node outside the ontology graph, at most limit of them."""
    dom = _domain(store)
    degree = Counter(x for s, _, o in dom.edges for x in (s, o))
    kinds = {i: k for i, k in dom.kinds.items() if degree[i] or k[0] not in ("copy", "other")}
    return _assemble(store, _rank(kinds, degree), dom.edges, kinds, limit=limit, collapse=collapse)


def resolve_node(text: str) -> str:
    """An IRI for an IRI, 'id:kind/slug', or the short form 'kind/slug/...'.

    >>> resolve_node("claim/post/rofr")
    'https://example.org/kg/id/claim/post/rofr'
    """
    text = text.strip()
    if text.startswith(("http://", "https://")):
        return text
    short = text.removeprefix("id:").strip("/")
    if re.fullmatch(r"[a-z0-9][a-z0-9-]*(/[a-z0-9][a-z0-9-]*)+", short):
        return ID_BASE + short
    raise NotFoundError(
        f"{text!r} is not a node id. Give an IRI or a short id such as claim/<record>/<claim>; "
        "run 'kg query claims' or 'kg query sources' to find ids"
    )


def neighbourhood(
    store: Queryable, iri: str, *, depth: int = 1, limit: int | None = 500, collapse: bool = True
) -> ViewGraph:
    """The nodes within depth hops of iri (edges followed both ways), nearest first under the cap."""
    dom = _domain(store)
    if iri not in dom.kinds:
        raise NotFoundError(
            f"no node {iri} in the store. Run 'kg query claims' (or 'kg query sources', "
            "'kg query organizations') to find ids"
        )
    adjacent: dict[str, set[str]] = defaultdict(set)
    for s, _, o in dom.edges:
        adjacent[s].add(o)
        adjacent[o].add(s)
    distance = {iri: 0}
    queue = deque([iri])
    while queue:
        here = queue.popleft()
        if distance[here] >= depth:
            continue
        for there in sorted(adjacent[here] - distance.keys()):
            distance[there] = distance[here] + 1
            queue.append(there)
    degree = Counter(x for s, _, o in dom.edges for x in (s, o))
    ranked = _rank({i: dom.kinds[i] for i in distance}, degree)
    order = sorted(ranked, key=lambda i: distance[i])  # stable: nearest first, then by rank
    return _assemble(store, order, dom.edges, dom.kinds, limit=limit, collapse=collapse, focus=iri)


def _parse_ntriples(data: str) -> list[tuple[str, str, str, bool]]:
    """(subject, predicate, object, object is a node) for each triple; blank nodes keep their _: id."""
    from rdflib import BNode, Graph, Literal

    def name(term: object) -> str:
        return f"_:{term}" if isinstance(term, BNode) else str(term)

    graph = Graph().parse(data=data, format="nt")
    return sorted((name(s), str(p), name(o), not isinstance(o, Literal)) for s, p, o in graph)


def from_construct(store: Queryable, sparql: str, *, limit: int | None = 500, collapse: bool = True) -> ViewGraph:
    """The graph a CONSTRUCT query returns; literal triples become details of their subject."""
    result = store.query(sparql)
    if result.kind != "graph":
        got = "rows" if result.kind == "select" else "a boolean"
        raise QueryError(
            f"a view needs a CONSTRUCT query, and this one returns {got}. Write CONSTRUCT {{ ... }} WHERE {{ ... }}"
        )
    triples = _parse_ntriples(result.ntriples)
    types: dict[str, list[str]] = defaultdict(list, node_types(store))
    order: dict[str, None] = {}
    edges: list[Edge] = []
    extra: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for s, p, o, is_node in triples:
        order.setdefault(s)
        if p == RDF_TYPE:
            types[s].append(o)
        elif is_node:
            order.setdefault(o)
            edges.append((s, p, o))
        else:
            extra[s].append((local_name(p), o))
    kinds = {i: kind_of(types.get(i, ())) for i in order}
    kinds = {i: k if k[0] else ("other", None) for i, k in kinds.items()}
    degree = Counter(x for s, _, o in edges for x in (s, o))
    return _assemble(store, _rank(kinds, degree), edges, kinds, limit=limit, collapse=collapse, extra=extra)


def from_edges(
    store: Queryable,
    edges: Iterable[tuple[str, str, str]],
    *,
    nodes: Iterable[str] = (),
    tags: Mapping[str, str] | None = None,
    collapse: bool = False,
    limit: int | None = None,
    focus: str | None = None,
) -> ViewGraph:
    """A view of given edges (subject IRI, predicate IRI or short label, object IRI) plus lone nodes.

    Names, kinds, details and links of the nodes come from the store. ``tags`` maps a node IRI to an
    extra colour key (an audit view passes each claim's verdict). Provenance is not folded unless
    ``collapse`` is set: a trace (claim → quote → source → outlet → event) shows every step.
    """
    edge_list = [(s, p, o) for s, p, o in edges]
    order = list(dict.fromkeys([*nodes, *(x for s, _, o in edge_list for x in (s, o))]))
    types = node_types(store)
    kinds = {i: k if (k := kind_of(types.get(i, ())))[0] else ("other", None) for i in order}
    return _assemble(store, order, edge_list, kinds, limit=limit, collapse=collapse, focus=focus, tags=tags)


def _parents(kinds: Mapping[str, tuple[str, str | None]], edges: list[Edge], focus: str | None) -> dict[str, str]:
    """Where each provenance node folds: into the claim or source it hangs from."""
    out_edges: dict[str, list[tuple[str, str]]] = defaultdict(list)
    in_edges: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for s, p, o in edges:
        out_edges[s].append((local_name(p), o))
        in_edges[o].append((local_name(p), s))

    def kind(i: str) -> str:
        return kinds[i][0]

    def first(cands: Iterable[str]) -> str | None:
        return min(cands, default=None)

    parent: dict[str, str] = {}
    for iri, (k, role) in kinds.items():
        if iri == focus:
            continue
        found = None
        if k == "quote":
            found = first(
                [s for p, s in in_edges[iri] if p in ("citesAsEvidence", "wasDerivedFrom") and kind(s) == "claim"]
                + [o for p, o in out_edges[iri] if p == "disputes"]
            )
            found = found or first(o for p, o in out_edges[iri] if p == "isPartOf" and kind(o) in SOURCES)
        elif k == "copy":
            linked = [s for p, s in in_edges[iri] if p in ("seenAt", "titleSeenAt", "dateSeenAt")]
            found = first(s for s in linked if kind(s) in SOURCES) or first(s for s in linked if kind(s) != "copy")
        elif k == "match":
            found = first(o for p, o in out_edges[iri] if p == "matchedQuote")
        elif k == "finding":
            found = first(o for p, o in out_edges[iri] if p == "findingFor")
        elif role == "anchor":
            found = first(o for p, o in out_edges[iri] if p == "hasSource" and kind(o) in SOURCES)
            found = found or first(s for p, s in in_edges[iri] if p == "isBasedOn")
        elif role == "section":
            found = first(s for p, s in in_edges[iri] if p == "hasPart" and kind(s) in SOURCES)
        if found and found != iri:
            parent[iri] = found
    for iri in list(parent):  # fold into the top: a match goes where its quote goes
        top, hops = parent[iri], 0
        while top in parent and hops < len(parent):
            top, hops = parent[top], hops + 1
        if top == iri:
            del parent[iri]
        else:
            parent[iri] = top
    return parent


def _assemble(
    store: Queryable,
    order: list[str],
    edges: Iterable[Edge],
    kinds: Mapping[str, tuple[str, str | None]],
    *,
    limit: int | None,
    collapse: bool,
    focus: str | None = None,
    extra: Mapping[str, list[tuple[str, str]]] | None = None,
    tags: Mapping[str, str] | None = None,
) -> ViewGraph:
    kept = list(order)
    if limit is not None and len(kept) > limit:
        kept = kept[:limit]
        if focus is not None and focus in order and focus not in kept:
            kept = [focus, *kept[:-1]] if limit > 0 else []
    keep = set(kept)
    left = Counter(kinds.get(i, ("other", None))[0] for i in order if i not in keep)
    inside = sorted({(s, p, o) for s, p, o in edges if s in keep and o in keep})
    asserted = assertions(store)
    props = with_related(store, keep | {x for c in keep for x, _ in asserted.get(c, [])})
    describe = Describer(props, asserted, verdicts(store))
    parents = _parents({i: kinds.get(i, ("other", None)) for i in kept}, inside, focus) if collapse else {}
    nodes: dict[str, ViewNode] = {}
    for iri in kept:
        kind, role = kinds.get(iri, ("other", None))
        label = describe.label(iri, kind, role) if not iri.startswith("_:") else fallback_label(iri, kind)
        details = describe.details(iri, kind, role) + [x for x in (extra or {}).get(iri, [])]
        nodes[iri] = ViewNode(
            id=iri,
            label=label,
            kind=kind,
            details=tuple(details),
            url=describe.url(iri, kind),
            outlet=describe.outlet(iri, kind),
            collapsed_under=parents.get(iri),
            tag=(tags or {}).get(iri),
        )
    for iri, node in nodes.items():  # copies and anchors show under their source's outlet
        if node.outlet is None and node.collapsed_under:
            nodes[iri] = replace(node, outlet=nodes[node.collapsed_under].outlet)
    view_edges = tuple(
        ViewEdge(id=f"e{n}", source=s, target=o, label=local_name(p) if "://" in p else p)
        for n, (s, p, o) in enumerate(inside)
    )
    by_kind = tuple(sorted(left.items(), key=lambda kv: (-kv[1], kv[0])))
    return ViewGraph(
        tuple(nodes.values()), view_edges, omitted=sum(left.values()), omitted_by_kind=by_kind, focus=focus
    )
