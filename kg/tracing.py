"""Trace a claim or a quote to everything it rests on, and a source to everything it supports.

Every lookup is a SPARQL query on the store (Oxigraph's engine). The result is plain data (dicts
with stable keys, documented in README 'kg trace'), rendered as a tree by :mod:`kg.tree`.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from kg.errors import AmbiguousError, NotFoundError
from kg.model import Result
from kg.prefixes import BASE
from kg.sparql_syntax import iri_ref

ID_BASE = BASE + "id/"
Node = dict[str, Any]


class Queryable(Protocol):
    def query(self, sparql: str, *, params: dict[str, str] | None = None) -> Result: ...


def short_id(iri: str) -> str:
    """The record/local part of a claim or quote IRI.

    >>> short_id("https://example.org/kg/id/claim/post/rofr")
    'post/rofr'
    """
    rest = iri.removeprefix(ID_BASE)
    return rest.split("/", 1)[1] if "/" in rest else rest


def rows_of(store: Queryable, sparql: str, **iris: str) -> list[dict[str, str | None]]:
    """The rows of a SELECT, with the IRIs given for ?name written into it (:func:`with_iris`)."""
    return store.query(with_iris(sparql, iris)).rows().dicts()


def with_iris(sparql: str, iris: dict[str, str]) -> str:
    """The query with each ?name of iris written as that IRI, and bound to it at the end (for the rows).

    Oxigraph 0.5 plans a query before it sees values passed with it (and a VALUES block first in
    the query did not help): with the IRI written in the query, a lookup starts from it. A trace
    at 1M triples went from about 100 ms to a few.

    >>> with_iris("SELECT ?doc ?p WHERE { ?doc ?p ?o . ?docs ?q ?doc }", {"doc": "https://ex.org/d"})
    'SELECT ?doc ?p WHERE { <https://ex.org/d> ?p ?o . ?docs ?q <https://ex.org/d> } VALUES ?doc { <https://ex.org/d> }'
    """
    head, brace, body = sparql.partition("{")  # the projection keeps ?name: the VALUES at the end binds it
    for name, iri in iris.items():
        term = iri_ref(iri)
        body = re.sub(rf"\?{name}\b", term, body) + f" VALUES ?{name} {{ {term} }}"
    return head + brace + body


def _one(store: Queryable, sparql: str, **params: str) -> dict[str, str | None]:
    rows = rows_of(store, sparql, **params)
    return rows[0] if rows else {}


KIND_OF = """
SELECT DISTINCT * WHERE { ?x a ?t . VALUES (?t ?type) { (schema:Claim "claim") (schema:Quotation "quote") } }
"""

SEARCH = """
SELECT DISTINCT ?x ?type ?text ?needle WHERE {
  VALUES (?t ?type) { (schema:Claim "claim") (schema:Quotation "quote") }
  ?x a ?t ; schema:text ?text .
  FILTER (CONTAINS(LCASE(STR(?text)), LCASE(?needle)))
} ORDER BY ?type ?x
"""


def resolve(store: Queryable, ref: str) -> tuple[str, str]:
    """(IRI, "claim" | "quote") for an IRI, a short id (record/claim) or a text search."""
    if ref.startswith(("http://", "https://")):
        candidates = [ref]
    elif re.fullmatch(r"[a-z0-9][a-z0-9/-]*", ref):
        candidates = [f"{ID_BASE}{ref}", f"{ID_BASE}claim/{ref}", f"{ID_BASE}quote/{ref}"]
    else:
        candidates = []
    for iri in candidates:
        found = _one(store, KIND_OF, x=iri)
        if found:
            return iri, str(found["type"])
    if ref.startswith(("http://", "https://")):
        raise NotFoundError(f"no claim or quote {ref} in the store. Run 'kg query claims' to list them")
    hits = store.query(SEARCH, params={"needle": f'"{ref}"'}).rows().dicts()
    if not hits:
        raise NotFoundError(f"no claim or quote id or text matches \"{ref}\". Run 'kg query claims' to list them")
    if len(hits) > 1:
        listed = "; ".join(f"{h['type']} {short_id(str(h['x']))}" for h in hits[:12])
        more = f" (and {len(hits) - 12} more)" if len(hits) > 12 else ""
        raise AmbiguousError(f'"{ref}" matches {len(hits)} claims and quotes: {listed}{more}. Pass one of these ids')
    return str(hits[0]["x"]), str(hits[0]["type"])


SOURCE = """
SELECT DISTINCT * WHERE {
  ?doc schema:publisher ?outlet ; kg:textFound ?found ; kg:recordFile ?file .
  ?outlet schema:name ?outletName .
  VALUES (?class ?type) { (schema:NewsArticle "news-article") (kg:CompanyAnnouncement "company-announcement")
                          (kg:AnalysisPost "analysis") }
  ?doc a ?class .
  OPTIONAL { ?doc schema:headline ?headline }
  OPTIONAL { ?doc schema:datePublished ?published . OPTIONAL { ?doc kg:dateBasis ?basis } }
  OPTIONAL { ?doc schema:url ?url }
  OPTIONAL { ?doc schema:about ?event . ?event a schema:Event }
}
"""

COPIES = """
SELECT DISTINCT * WHERE {
  ?doc kg:seenAt ?page . ?page kg:copyKind/skos:notation ?kind .
  OPTIONAL { ?page schema:url ?url } OPTIONAL { ?page dcterms:bibliographicCitation ?ref }
} ORDER BY ?kind ?url ?ref
"""

EVENT = """
SELECT DISTINCT * WHERE { ?event schema:name ?label . OPTIONAL { ?event schema:startDate ?date } }
"""


def event(store: Queryable, iri: str | None) -> Node | None:
    if not iri:
        return None
    row = _one(store, EVENT, event=iri)
    return {"iri": iri, "id": iri.removeprefix(ID_BASE + "event/"), "label": row.get("label"), "date": row.get("date")}


def source(store: Queryable, iri: str) -> Node:
    row = _one(store, SOURCE, doc=iri)
    return {
        "iri": iri,
        "id": iri.removeprefix(ID_BASE + "source/"),
        "type": row.get("type"),
        "headline": row.get("headline"),
        "outlet": row.get("outletName"),
        "outlet_iri": row.get("outlet"),
        "published": row.get("published"),
        "date_basis": row.get("basis"),
        "url": row.get("url"),
        "text_found": row.get("found") == "true",
        "file": row.get("file"),
        "copies": [{"url": c["url"], "ref": c["ref"], "kind": c["kind"]} for c in rows_of(store, COPIES, doc=iri)],
        "event": event(store, row.get("event")),
    }


QUOTE = """
SELECT DISTINCT * WHERE {
  ?quote a schema:Quotation ; schema:text ?text ; schema:isPartOf ?doc .
  OPTIONAL { ?quote schema:creator/schema:name ?speaker }
  OPTIONAL { ?quote kg:locatedIn ?where }
  OPTIONAL { ?quote kg:seenAt ?page . ?page kg:copyKind/skos:notation ?pageKind .
             OPTIONAL { ?page schema:url ?pageUrl } OPTIONAL { ?page dcterms:bibliographicCitation ?pageRef } }
}
"""

# One triple per OPTIONAL, nested from ?candidate: Oxigraph 0.5 evaluates an OPTIONAL of three triples
# for every match in the store before joining it (20 ms at 1M triples, against 0.1 ms).
MATCH = """
SELECT DISTINCT * WHERE {
  ?m kg:matchedQuote ?quote ; kg:matchKind/skos:notation ?kind .
  OPTIONAL {
    ?m kg:candidate ?candidate . OPTIONAL { ?m kg:matchScore ?score } OPTIONAL { ?m kg:dropsQualifier ?qualifier }
  }
}
"""

DROPPED = "SELECT DISTINCT * WHERE { ?m kg:matchedQuote ?quote ; kg:droppedText ?text } ORDER BY ?text"


def quote(store: Queryable, iri: str, *, follow_origin: bool = True) -> Node:
    row = _one(store, QUOTE, quote=iri)
    if not row:
        raise NotFoundError(f"no quote {iri} in the store")
    seen = None
    if row.get("pageKind"):
        seen = {"url": row.get("pageUrl"), "ref": row.get("pageRef"), "kind": row.get("pageKind")}
    node: Node = {
        "iri": iri,
        "id": short_id(iri),
        "text": row["text"],
        "speaker": row.get("speaker"),
        "located_in": row.get("where"),
        "seen_at": seen,
        "source": source(store, str(row["doc"])),
        "origin": None,
    }
    match = _one(store, MATCH, quote=iri)
    if match and follow_origin:
        candidate = match.get("candidate")
        node["origin"] = {
            "kind": match["kind"],
            "score": float(str(match["score"])) if match.get("score") else None,
            "dropped": [str(r["text"]) for r in rows_of(store, DROPPED, quote=iri)],
            "drops_qualifier": match.get("qualifier") == "true",
            "quote": quote(store, candidate, follow_origin=False) if candidate else None,
        }
    return node


CLAIM = """
SELECT DISTINCT * WHERE {
  ?claim a schema:Claim ; schema:text ?text ; kg:claimKind/skos:notation ?kind ; schema:appearance ?doc .
  OPTIONAL { ?claim kg:section/schema:name ?section }
  OPTIONAL { ?np np:hasAssertion ?claim ; kg:recordFile ?file ; kg:recordLine ?line }
}
"""

# What a claim asserts, in small queries run one after another: Oxigraph 0.5 plans the joins of
# one query that does it all badly, and took 10-20 ms a claim at 1M triples (each of these: 0.1 ms).
VERSIONS = """
SELECT DISTINCT * WHERE {
  GRAPH ?claim {
    ?v adms:status ?s .
    OPTIONAL { ?v kg:rate ?rate } OPTIONAL { ?v kg:until ?until }
    OPTIONAL { ?v kg:capped ?capped } OPTIONAL { ?v kg:capAmountUSD ?cap }
    OPTIONAL { ?v kg:amountUSD ?amount } OPTIONAL { ?v kg:condition ?condition }
    OPTIONAL { ?v kg:holder ?h }
  }
}
"""
VERSION = """
SELECT DISTINCT * WHERE {
  ?v dcterms:isVersionOf ?clause ; prov:wasGeneratedBy ?event . ?clause skos:prefLabel ?clauseLabel
}
"""
NOTATION = "SELECT DISTINCT * WHERE { ?s skos:notation ?status }"
NAME = "SELECT DISTINCT * WHERE { ?h schema:name ?holder }"
TOPICS = "SELECT DISTINCT * WHERE { GRAPH ?claim { ?topic kg:holds true } ?topic skos:prefLabel ?topicLabel }"

EVIDENCE = """
SELECT DISTINCT * WHERE {
  { ?claim prov:wasDerivedFrom ?quote . ?quote a schema:Quotation . BIND("supports" AS ?role) }
  UNION { ?quote cito:disputes ?claim . BIND("disputes" AS ?role) }
} ORDER BY ?role ?quote
"""

TERMS = ("holder", "rate", "until", "capped", "cap", "amount", "condition")


def assertions(store: Queryable, claim_iri: str) -> list[Node]:
    """The topics a claim holds (by topic), then the clause versions it asserts (by clause)."""
    topics = sorted(rows_of(store, TOPICS, claim=claim_iri), key=lambda r: str(r["topic"]))
    out: list[Node] = [
        {"topic": str(r["topic"]).removeprefix(ID_BASE + "topic/"), "topic_label": r["topicLabel"]} for r in topics
    ]
    versions: list[tuple[str, Node]] = []
    for row in rows_of(store, VERSIONS, claim=claim_iri):
        holders = rows_of(store, NAME, h=str(row["h"])) if row.get("h") else []
        for version in rows_of(store, VERSION, v=str(row["v"])):
            for status in rows_of(store, NOTATION, s=str(row["s"])):
                for holder in holders or [{}]:
                    node: Node = {
                        "clause": str(version["clause"]).removeprefix(ID_BASE + "clause/"),
                        "clause_label": version["clauseLabel"],
                        "status": status["status"],
                        "version": event(store, version["event"]),
                    }
                    terms = {**row, "holder": holder.get("holder")}
                    node.update({k: terms[k] for k in TERMS if terms.get(k) is not None})
                    versions.append((str(version["clause"]), node))
    versions.sort(key=lambda v: v[0])  # stable: a clause's versions in the order the store gave them
    return out + [node for _clause, node in versions]


def claim(store: Queryable, iri: str) -> Node:
    row = _one(store, CLAIM, claim=iri)
    if not row:
        raise NotFoundError(f"no claim {iri} in the store")
    return {
        "iri": iri,
        "id": short_id(iri),
        "text": row["text"],
        "kind": row["kind"],
        "section": row.get("section"),
        "file": row.get("file"),
        "line": int(str(row["line"])) if row.get("line") else None,
        "source": source(store, str(row["doc"])),
        "asserts": assertions(store, iri),
        "evidence": [
            {"role": e["role"], "quote": quote(store, str(e["quote"]))} for e in rows_of(store, EVIDENCE, claim=iri)
        ],
    }


def trace(store: Queryable, ref: str) -> Node:
    """The trace tree of a claim or a quote, found by IRI, short id or text."""
    iri, kind = resolve(store, ref)
    return {"claim": claim(store, iri)} if kind == "claim" else {"quote": quote(store, iri)}


SOURCE_CLAIMS = """
SELECT DISTINCT * WHERE {
  ?via schema:isPartOf ?doc ; a schema:Quotation .
  {
    { ?claim prov:wasDerivedFrom ?via . BIND("supports" AS ?role) }
    UNION { ?via cito:disputes ?claim . BIND("disputes" AS ?role) }
  } UNION {
    ?m kg:candidate ?via ; kg:matchedQuote ?matched ; kg:matchKind/skos:notation ?kind .
    ?claim prov:wasDerivedFrom ?matched .
    BIND(CONCAT("supports (through ", IF(?kind = "exact", "an", "a"), " ", ?kind, " match of a quote)") AS ?role)
  }
  ?claim a schema:Claim .
} ORDER BY ?claim ?role
"""


def trace_source(store: Queryable, ref: str) -> Node:
    """Everything a source's quotes support or dispute, including quotes matched to them."""
    iri = ref if ref.startswith(("http://", "https://")) else f"{ID_BASE}source/{ref.removeprefix('source/')}"
    if not _one(store, SOURCE, doc=iri):
        raise NotFoundError(f"no source {ref} in the store. Run 'kg query sources' to list them")
    items = []
    for row in rows_of(store, SOURCE_CLAIMS, doc=iri):
        c = _one(store, CLAIM, claim=str(row["claim"]))
        items.append(
            {
                "role": row["role"],
                "via_quote": short_id(str(row["via"])),
                "claim": {
                    "iri": row["claim"],
                    "id": short_id(str(row["claim"])),
                    "text": c.get("text"),
                    "kind": c.get("kind"),
                },
            }
        )
    return {"source": source(store, iri), "supports": items}
