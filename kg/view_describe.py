"""What a view shows of a node: its kind, a human label (never an IRI), details, a safe link, its outlet.

Everything is read from the store with SPARQL (:meth:`kg.store.Store.query`); nothing here renders
HTML. Labels and details are plain text: the page puts them into the DOM with ``textContent`` only.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Protocol
from urllib.parse import urlsplit

from kg.model import Result, Term
from kg.prefixes import BASE, PREFIXES

ID_BASE = BASE + "id/"
ONTOLOGY_GRAPH = ID_BASE + "graph/ontology"
KG, SCHEMA, PROV, OA = PREFIXES["kg"], PREFIXES["schema"], PREFIXES["prov"], PREFIXES["oa"]
SKOS, DCTERMS, RDFS = PREFIXES["skos"], PREFIXES["dcterms"], PREFIXES["rdfs"]
FIBO = PREFIXES["fibo"]

KINDS = (
    "organization",
    "outlet",
    "article",
    "announcement",
    "analysis",
    "claim",
    "quote",
    "clause",
    "clause-version",
    "event",
    "topic",
    "copy",
    "match",
    "finding",
    "other",
)

# The first matching class decides the kind; classes not listed (nanopublications, selectors,
# identifiers) are not nodes of the domain graph.
CLASS_KIND: tuple[tuple[str, str], ...] = (
    (KG + "Finding", "finding"),
    (KG + "QuoteMatch", "match"),
    (KG + "SourceCopy", "copy"),
    (SCHEMA + "Quotation", "quote"),
    (SCHEMA + "Claim", "claim"),
    (KG + "AnalysisPost", "analysis"),
    (KG + "CompanyAnnouncement", "announcement"),
    (SCHEMA + "NewsArticle", "article"),
    (SCHEMA + "NewsMediaOrganization", "outlet"),
    (SCHEMA + "Organization", "organization"),
    (SCHEMA + "Product", "organization"),
    (KG + "ClauseVersion", "clause-version"),
    (KG + "Clause", "clause"),
    (SCHEMA + "Event", "event"),
    (KG + "Topic", "topic"),
    (OA + "SpecificResource", "other"),
    (FIBO + "Contract", "other"),
    (KG + "Section", "other"),
    (SCHEMA + "Article", "article"),
    (SKOS + "Concept", "other"),
)
OTHER_ROLE = {
    OA + "SpecificResource": "anchor",
    FIBO + "Contract": "agreement",
    KG + "Section": "section",
    SKOS + "Concept": "concept",
}

TYPES = f"""
SELECT DISTINCT ?s ?t WHERE {{ GRAPH ?g {{ ?s a ?t }} FILTER (?g != <{ONTOLOGY_GRAPH}>) }}
"""
PROPS = "SELECT DISTINCT ?s ?p ?o WHERE {{ VALUES ?s {{ {values} }} ?s ?p ?o }}"
ASSERTS = """
SELECT DISTINCT ?c ?x ?status WHERE {
  ?c a schema:Claim .
  GRAPH ?c { { ?x a kg:ClauseVersion } UNION { ?x kg:holds ?holds } }
  OPTIONAL { GRAPH ?c { ?x adms:status ?s } OPTIONAL { ?s skos:prefLabel ?label } }
  BIND (COALESCE(STR(?label), REPLACE(STR(?s), "^.*[#/]", "")) AS ?status)
}
"""
VERDICTS = """
SELECT DISTINCT ?c ?verdict WHERE {
  ?f kg:findingFor ?c ; kg:verdict ?v .
  OPTIONAL { ?v skos:prefLabel ?label }
  BIND (COALESCE(STR(?label), REPLACE(STR(?v), "^.*[#/]", "")) AS ?verdict)
}
"""

_SAFE_IRI = re.compile(r'^[^\s<>"{}|\\^`]+$')


class Queryable(Protocol):
    """What views need of a store: :meth:`kg.store.Store.query`."""

    def query(self, sparql: str, *, params: Mapping[str, str] | None = None) -> Result: ...


def safe_url(value: str | None) -> str | None:
    """The value when it is an absolute http(s) URL with a host and no spaces or quotes, else None.

    >>> safe_url("https://example.com/a?b=1"), safe_url("javascript:alert(1)"), safe_url("http:/x")
    ('https://example.com/a?b=1', None, None)
    """
    if not value or not _SAFE_IRI.match(value) or any(ord(ch) < 32 for ch in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme.lower() in ("http", "https") and parts.hostname else None


def shorten(text: str, width: int = 60) -> str:
    """One line of at most width characters, cut at a word with an ellipsis.

    >>> shorten("Microsoft keeps   a right of first refusal on new capacity", 30)
    'Microsoft keeps a right of…'
    """
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    cut = flat[: width - 1]
    if " " in cut[width // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.…") + "…"


def local_name(iri: str) -> str:
    """The last segment of an IRI: the short name of a predicate.

    >>> local_name("http://purl.org/spar/cito/citesAsEvidence"), local_name("https://schema.org/text")
    ('citesAsEvidence', 'text')
    """
    return re.split(r"[#/]", iri.rstrip("/#"))[-1] or iri


def fallback_label(iri: str, kind: str) -> str:
    """A readable name made from an IRI's last segments, for a node the store gives no name.

    >>> fallback_label("https://example.org/kg/id/section/post/the-moves", "other")
    'post / the moves'
    """
    if iri.startswith("_:"):
        return "(blank node)"
    if iri.startswith(ID_BASE):
        parts = iri[len(ID_BASE) :].split("/")
        text = " / ".join(parts[1:] or parts)
    else:
        text = local_name(iri)
    return shorten(re.sub(r"[-_]+", " ", text).strip() or kind, 70)


def kind_of(types: Iterable[str]) -> tuple[str, str | None]:
    """(kind, role of an 'other' node) for a set of class IRIs; ("", None) when not a domain node."""
    found = set(types)
    for cls, kind in CLASS_KIND:
        if cls in found:
            return kind, OTHER_ROLE.get(cls)
    return "", None


def node_types(store: Queryable) -> dict[str, list[str]]:
    """Class IRIs of every typed subject outside the ontology graph."""
    out: dict[str, list[str]] = defaultdict(list)
    for row in store.query(TYPES).terms:
        if row[0] is not None and row[1] is not None:
            out[row[0].value].append(row[1].value)
    return out


Props = dict[str, dict[str, list[Term]]]


def fetch_props(store: Queryable, iris: Iterable[str], *, chunk: int = 800) -> Props:
    """Every (predicate, object) of each IRI, from all graphs (the ontology gives concept labels)."""
    props: Props = defaultdict(lambda: defaultdict(list))
    todo = sorted({i for i in iris if _SAFE_IRI.match(i) and not i.startswith("_:")})
    for start in range(0, len(todo), chunk):
        values = " ".join(f"<{i}>" for i in todo[start : start + chunk])
        for s, p, o in store.query(PROPS.format(values=values)).terms:
            if s is not None and p is not None and o is not None and o not in props[s.value][p.value]:
                props[s.value][p.value].append(o)
    return props


def with_related(store: Queryable, iris: Iterable[str], depth: int = 2) -> Props:
    """Props of the IRIs and of the IRIs they point to, depth levels down (names of outlets, …)."""
    props: Props = defaultdict(lambda: defaultdict(list))
    todo = set(iris)
    for _ in range(depth + 1):
        fresh = fetch_props(store, todo - props.keys())
        props.update(fresh)
        todo = {o.value for po in fresh.values() for objs in po.values() for o in objs if o.kind == "uri"}
        todo -= props.keys()
        if not todo:
            break
    return props


def assertions(store: Queryable) -> dict[str, list[tuple[str, str | None]]]:
    """claim IRI -> [(clause version or topic IRI, status label or None)] from the assertion graphs."""
    out: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    for c, x, status in store.query(ASSERTS).terms:
        if c is not None and x is not None:
            out[c.value].append((x.value, status.value if status else None))
    return out


def verdicts(store: Queryable) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for c, v in store.query(VERDICTS).terms:
        if c is not None and v is not None:
            out[c.value].append(v.value)
    return out


class Describer:
    """Labels, details, links and outlets of nodes, from props fetched once for a whole view."""

    def __init__(
        self, props: Props, asserted: dict[str, list[tuple[str, str | None]]], verdicts_of: dict[str, list[str]]
    ) -> None:
        self.props, self.asserted, self.verdicts_of = props, asserted, verdicts_of
        self.statuses: dict[str, list[str]] = defaultdict(list)
        for pairs in asserted.values():
            for x, status in sorted(pairs, key=lambda p: (p[0], p[1] or "")):
                if status and status not in self.statuses[x]:
                    self.statuses[x].append(status)

    def values(self, iri: str, pred: str) -> list[str]:
        return sorted(t.value for t in self.props.get(iri, {}).get(pred, []))

    def one(self, iri: str, *preds: str) -> str | None:
        for pred in preds:
            found = self.values(iri, pred)
            if found:
                return found[0]
        return None

    def label_of(self, iri: str) -> str:
        """The plain name of a related thing (an outlet, a clause, a status concept)."""
        return self.one(
            iri, SKOS + "prefLabel", SCHEMA + "name", SCHEMA + "headline", RDFS + "label"
        ) or fallback_label(iri, "other")

    def outlet(self, iri: str, kind: str) -> str | None:
        """Name of the outlet or company a node was published by (for the outlet filter)."""
        if kind in ("outlet",):
            return self.one(iri, SCHEMA + "name")
        src = self._source_of(iri, kind)
        publisher = self.one(src, SCHEMA + "publisher") if src else None
        if publisher is None and kind == "claim":
            publisher = self.one(iri, PROV + "wasAttributedTo")
        return self.label_of(publisher) if publisher else None

    def _source_of(self, iri: str, kind: str) -> str | None:
        if kind in ("article", "announcement", "analysis"):
            return iri
        if kind == "claim":
            return self.one(iri, SCHEMA + "appearance")
        if kind == "quote":
            return self.one(iri, SCHEMA + "isPartOf")
        if kind == "match":
            quote = self.one(iri, KG + "matchedQuote")
            return self.one(quote, SCHEMA + "isPartOf") if quote else None
        return self.one(iri, OA + "hasSource")

    def url(self, iri: str, kind: str) -> str | None:
        candidates = self.values(iri, SCHEMA + "url") + self.values(iri, SCHEMA + "sameAs")
        if kind == "quote":
            page = self.one(iri, KG + "seenAt")
            candidates += self.values(page, SCHEMA + "url") if page else []
        return next((u for u in map(safe_url, candidates) if u), None)

    def version_name(self, iri: str) -> str:
        """'Clause (date of the version)'."""
        clause, event = self.one(iri, DCTERMS + "isVersionOf"), self.one(iri, PROV + "wasGeneratedBy")
        name = self.label_of(clause) if clause else fallback_label(iri, "clause-version")
        when = (self.one(event, SCHEMA + "startDate") or shorten(self.label_of(event), 24)) if event else None
        return f"{name} ({when})" if when else name

    def version_label(self, iri: str) -> str:
        """'Clause (date): status', every status the claims give joined with ' / '."""
        status = " / ".join(self.statuses.get(iri, []))
        return f"{self.version_name(iri)}: {status}" if status else self.version_name(iri)

    def label(self, iri: str, kind: str, role: str | None) -> str:
        text = self.one(iri, SCHEMA + "text")
        if kind == "claim" and text:
            return shorten(text, 60)
        if kind == "quote" and text:
            return f"“{shorten(text, 50)}”"
        if kind == "clause-version":
            return self.version_label(iri)
        if kind == "event":
            name = self.one(iri, SCHEMA + "name")
            return shorten(name, 48) if name else fallback_label(iri, kind)
        if kind == "copy":
            ck = self.one(iri, KG + "copyKind")
            host = urlsplit(self.one(iri, SCHEMA + "url") or "").hostname
            return f"{self.label_of(ck) if ck else 'copy'}{f': {host}' if host else ''}"
        if kind == "match":
            mk = self.one(iri, KG + "matchKind")
            return f"match: {self.label_of(mk) if mk else 'unknown'}"
        if kind == "finding":
            v = self.one(iri, KG + "verdict")
            return self.label_of(v) if v else "finding"
        if role == "anchor":
            selector = self._selector(iri, "TextQuoteSelector")
            exact = self.one(selector, OA + "exact") if selector else None
            return f"anchor: “{shorten(exact, 30)}”" if exact else "anchor"
        name = self.one(iri, SCHEMA + "headline", SCHEMA + "name", SKOS + "prefLabel", RDFS + "label")
        if name:
            return shorten(name, 70)
        if kind in ("article", "announcement", "analysis"):
            outlet = self.outlet(iri, kind)
            date = self.one(iri, SCHEMA + "datePublished")
            return " ".join(x for x in (outlet or kind, f"({date})" if date else "") if x)
        return fallback_label(iri, kind)

    def _selector(self, anchor: str, cls: str) -> str | None:
        for sel in self.values(anchor, OA + "hasSelector"):
            if OA + cls in self.values(sel, PREFIXES["rdf"] + "type"):
                return sel
        return None

    def details(self, iri: str, kind: str, role: str | None) -> list[tuple[str, str]]:
        d: list[tuple[str, str]] = []

        def add(field: str, *preds: str, label: bool = False) -> None:
            for pred in preds:
                for value in self.values(iri, pred):
                    d.append((field, self.label_of(value) if label else value))

        if role:
            d.append(("type", role))
        if kind in ("organization", "outlet"):
            add("name", SCHEMA + "name")
            add("part of", SCHEMA + "parentOrganization", SCHEMA + "manufacturer", label=True)
            for ident in self.values(iri, SCHEMA + "identifier"):
                d += [("wikidata", v) for v in self.values(ident, SCHEMA + "value")]
        elif kind in ("article", "announcement", "analysis"):
            add("headline", SCHEMA + "headline")
            add("dek", SCHEMA + "alternativeHeadline")
            add("outlet", SCHEMA + "publisher", label=True)
            add("published", SCHEMA + "datePublished")
            add("date basis", KG + "dateBasis")
            add("author", SCHEMA + "author")
            add("about", SCHEMA + "about", label=True)
            add("retrieved", KG + "retrieved")
            add("text found", KG + "textFound")
            add("note", RDFS + "comment")
            add("record file", KG + "recordFile")
        elif kind == "claim":
            add("claim", SCHEMA + "text")
            add("claim kind", KG + "claimKind", label=True)
            add("source", SCHEMA + "appearance", label=True)
            add("outlet", PROV + "wasAttributedTo", label=True)
            add("section", KG + "section", label=True)
            for x, status in self.asserted.get(iri, []):
                d.append(("asserts", f"{self.version_name(x)}: {status}" if status else f"{self.label_of(x)} holds"))
            d += [("verdict", v) for v in sorted(self.verdicts_of.get(iri, []))]
        elif kind == "quote":
            add("quote", SCHEMA + "text")
            add("speaker", SCHEMA + "creator", label=True)
            add("located in", KG + "locatedIn")
            add("source", SCHEMA + "isPartOf", label=True)
            src = self.one(iri, SCHEMA + "isPartOf")
            if src:
                d += [("outlet", self.label_of(p)) for p in self.values(src, SCHEMA + "publisher")]
            add("quoted from", PROV + "wasQuotedFrom", label=True)
        elif kind == "clause":
            add("clause", SKOS + "prefLabel")
            add("definition", SKOS + "definition")
            add("part of", DCTERMS + "isPartOf", label=True)
        elif kind == "clause-version":
            add("clause", DCTERMS + "isVersionOf", label=True)
            add("version", PROV + "wasGeneratedBy", label=True)
            d += [("status", s) for s in self.statuses.get(iri, [])]
            add("holder", KG + "holder", label=True)
            for field, pred in (
                ("rate", "rate"),
                ("until", "until"),
                ("capped", "capped"),
                ("cap (USD)", "capAmountUSD"),
                ("amount (USD)", "amountUSD"),
                ("condition", "condition"),
            ):
                add(field, KG + pred)
            add("revision of", PROV + "wasRevisionOf", label=True)
        elif kind == "event":
            add("event", SCHEMA + "name")
            add("date", SCHEMA + "startDate")
            add("note", RDFS + "comment")
        elif kind == "topic":
            add("topic", SKOS + "prefLabel")
        elif kind == "copy":
            add("copy kind", KG + "copyKind", label=True)
            add("url", SCHEMA + "url")
            add("reference", DCTERMS + "bibliographicCitation")
            add("retrieved", KG + "retrieved")
            add("note", RDFS + "comment")
        elif kind == "match":
            add("match kind", KG + "matchKind", label=True)
            add("score", KG + "matchScore")
            for q in self.values(iri, KG + "matchedQuote"):
                d += [("quote", t) for t in self.values(q, SCHEMA + "text")]
            for q in self.values(iri, KG + "candidate"):
                d += [("matched passage", t) for t in self.values(q, SCHEMA + "text")]
            add("dropped text", KG + "droppedText")
            add("drops qualifier", KG + "dropsQualifier")
        elif kind == "finding":
            add("verdict", KG + "verdict", label=True)
            add("explanation", KG + "explanation")
            add("claim", KG + "findingFor", label=True)
        elif role == "anchor":
            for cls, fields in (
                ("TextQuoteSelector", ("prefix", "exact", "suffix")),
                ("TextPositionSelector", ("start", "end")),
            ):
                sel = self._selector(iri, cls)
                d += [(f, v) for f in fields for v in (self.values(sel, OA + f) if sel else [])]
            add("source", OA + "hasSource", label=True)
        else:
            add("name", SCHEMA + "name", SKOS + "prefLabel", RDFS + "label")
            add("definition", SKOS + "definition")
            add("note", RDFS + "comment")
        unique: list[tuple[str, str]] = []
        for pair in d:
            if pair not in unique:
                unique.append(pair)
        return unique
