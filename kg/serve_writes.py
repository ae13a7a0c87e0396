"""Writes for `kg serve --allow-update`: SPARQL Update and Graph Store Protocol bodies as new named graphs."""

from __future__ import annotations

from typing import Any

from kg.errors import KgError, QueryError, StoreError
from kg.serve_pool import PoolStore
from kg.sparql_syntax import iri_ref, literal, split_graphs


class RefusedError(KgError):
    """A write, SERVICE or LOAD the server does not allow."""


def graph_lines(store: PoolStore, graph: str) -> set[str]:
    """The N-Triples lines of one named graph in the store."""
    result = store.query(f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH {iri_ref(graph)} {{ ?s ?p ?o }} }}")
    return {line.strip() for line in result.ntriples.splitlines() if line.strip()}


def _nt(term: Any) -> str:
    from rdflib import BNode, Literal, URIRef

    if isinstance(term, URIRef):
        return iri_ref(str(term))
    if isinstance(term, Literal):
        return literal(str(term), datatype=str(term.datatype) if term.datatype else None, language=term.language)
    if isinstance(term, BNode):
        return f"_:{term}"
    raise RefusedError("INSERT DATA and DELETE DATA take data only, no variables")


def plan_update(sparql: str, store: PoolStore) -> dict[str, set[str]]:
    """The named graphs an update changes, each with its new N-Triples lines.

    Only data operations are supported: INSERT DATA, DELETE DATA, CLEAR GRAPH and DROP GRAPH on
    named graphs. Everything else is refused with a message saying so.
    """
    from rdflib.plugins.sparql.algebra import translateUpdate
    from rdflib.plugins.sparql.parser import parseUpdate

    try:
        requests = translateUpdate(parseUpdate(sparql)).algebra
    except Exception as e:  # pyparsing's ParseException and rdflib's own errors
        raise QueryError(f"invalid SPARQL Update: {str(e).splitlines()[0]}") from None
    graphs: dict[str, set[str]] = {}

    def current(graph: str) -> set[str]:
        if graph not in graphs:
            graphs[graph] = graph_lines(store, graph)
        return graphs[graph]

    for request in requests:
        name = request.name
        if name in ("InsertData", "DeleteData"):
            if request.get("triples"):
                raise RefusedError("kg serve writes named graphs only: put the triples in GRAPH <iri> { … }")
            for graph, triples in (request.get("quads") or {}).items():
                lines = {f"{_nt(s)} {_nt(p)} {_nt(o)} ." for s, p, o in triples}
                target = current(str(graph))
                target |= lines if name == "InsertData" else set()
                target -= lines if name == "DeleteData" else set()
        elif name in ("Clear", "Drop") and str(request.get("graphiri")).startswith(("http://", "https://", "urn:")):
            graphs[str(request.get("graphiri"))] = set()
        elif name == "Load":
            raise RefusedError("LOAD is refused: kg serve never fetches data from other hosts")
        else:
            raise RefusedError(f"{name} is not supported by kg serve: use INSERT DATA, DELETE DATA, CLEAR GRAPH <g>, "
                               "DROP GRAPH <g>, or the Graph Store Protocol at /store")
    return graphs


def parse_graph_body(body: bytes, content_type: str) -> set[str]:
    """The N-Triples lines of a Graph Store Protocol body (N-Triples or Turtle)."""
    media = content_type.split(";")[0].strip().lower()
    text = body.decode("utf-8", "replace")
    if media in ("text/turtle", "application/x-turtle"):
        import rdflib

        try:
            graph = rdflib.Graph().parse(data=text, format="turtle")
        except Exception as e:  # rdflib raises several parser exception types
            raise QueryError(f"the Turtle body does not parse: {str(e).splitlines()[0]}") from None
        return {f"{_nt(s)} {_nt(p)} {_nt(o)} ." for s, p, o in graph}
    if media not in ("application/n-triples", "text/plain", ""):
        raise QueryError(f"send the graph as application/n-triples or text/turtle, not {media}")
    try:
        graphs = split_graphs(text)
    except StoreError as e:
        raise QueryError(str(e).replace("of the dump ", "").replace(". Rebuild it with 'kg build'", "")) from None
    if set(graphs) - {None}:
        raise QueryError("the body has quads: send triples (N-Triples) for one graph")
    return set(graphs.get(None, []))
