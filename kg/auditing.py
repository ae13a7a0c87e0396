"""Judge every claim of an analysis by computation over the graph, with the evidence for each verdict.

The rules (README 'kg audit' lists them with the verdict scheme):
- an analysis or opinion with nothing structured to check is not checkable;
- a supporting quote that matches no recorded passage is unattributed;
- a quote that drops a condition its source states, or content that leaves out a condition other
  sources state for the same clause version, drops a qualifier;
- evidence published before the event the claim describes is older than the event;
- a status that a later version of the agreement changed (per other sources) is superseded;
- a status that a company statement, or more outlets than support it, contradicts in the same
  version (for the clause or a part of it) is contradicted;
- support is counted in independent outlets (networkx over the claims graph): supported by an own
  page, or only by secondary copies; one outlet is single-sourced; none among the sources the
  analysis cites is not in the cited sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from kg.errors import NotFoundError
from kg.matching import bare
from kg.model import Result
from kg.prefixes import BASE
from kg.tracing import rows_of

ID = BASE + "id/"
PROBLEMS = (
    "qualifier-dropped",
    "older-than-event",
    "superseded",
    "contradicted",
    "unattributed",
    "single-sourced",
    "not-in-cited-sources",
)
SUPPORT = ("supported-own-page", "supported-secondary-only")
LABELS = {
    "supported-own-page": "supported by an own page",
    "supported-secondary-only": "supported only by secondary copies",
    "qualifier-dropped": "quote trimmed, qualifier dropped",
    "older-than-event": "rests on a source older than the event",
    "superseded": "superseded",
    "contradicted": "contradicted",
    "unattributed": "unattributed",
    "single-sourced": "single-sourced",
    "not-in-cited-sources": "not supported by the cited sources",
    "not-checkable": "not checkable",
}


class Queryable(Protocol):
    def query(self, sparql: str, *, params: dict[str, str] | None = None) -> Result: ...


ANALYSES = "SELECT DISTINCT ?doc WHERE { ?doc a kg:AnalysisPost } ORDER BY ?doc"

# Read each assertion graph first (a sub-select), then join the claims: Oxigraph plans the other
# order badly (4.5 s instead of 0.16 s at 100k triples).
ASSERTIONS = """
SELECT DISTINCT ?claim ?doc ?kind ?outlet ?clause ?event ?date ?status ?condition ?topic WHERE {
  {
    { SELECT DISTINCT ?claim ?clause ?event ?s ?condition WHERE {
        GRAPH ?claim { ?v adms:status ?s ; dcterms:isVersionOf ?clause ; prov:wasGeneratedBy ?event .
                       OPTIONAL { ?v kg:condition ?condition } } } }
    ?s skos:notation ?status .
    OPTIONAL { ?event schema:startDate ?date }
  } UNION {
    { SELECT DISTINCT ?claim ?topic WHERE { GRAPH ?claim { ?topic kg:holds true } } }
  }
  ?claim schema:appearance ?doc ; kg:claimKind ?k ; prov:wasAttributedTo ?outlet .
  ?k skos:notation ?kind .
}
"""

# Which documents were seen on their own pages, and which are analyses, are read by queries of their
# own: as BIND(EXISTS { ... }) per document, Oxigraph 0.5 took 3.6 s at 1M triples instead of 0.2 s.
DOCUMENTS = """
SELECT DISTINCT ?doc ?publisher ?name ?published WHERE {
  ?doc kg:textFound ?found ; schema:publisher ?publisher . ?publisher schema:name ?name .
  OPTIONAL { ?doc schema:datePublished ?published }
}
"""
OWN_PAGES = "SELECT DISTINCT ?doc WHERE { ?page kg:copyKind kg:OwnPage . ?doc kg:seenAt ?page }"

PARTS = "SELECT DISTINCT ?whole ?part WHERE { ?whole a kg:Clause ; dcterms:hasPart ?part }"

LABELS_Q = """
SELECT DISTINCT ?x ?label WHERE {
  { ?x a kg:Clause ; skos:prefLabel ?label } UNION { ?x a kg:Topic ; skos:prefLabel ?label }
  UNION { ?x a schema:Event ; schema:name ?label }
}
"""

POST_CLAIMS = """
SELECT DISTINCT ?analysis ?claim ?text ?kind ?quote ?qtext ?match ?candidate ?candDoc WHERE {
  ?claim a schema:Claim ; schema:appearance ?analysis ; schema:text ?text ; kg:claimKind/skos:notation ?kind .
  OPTIONAL {
    ?claim prov:wasDerivedFrom ?quote . ?quote a schema:Quotation ; schema:text ?qtext .
    OPTIONAL { ?m kg:matchedQuote ?quote ; kg:matchKind/skos:notation ?match .
               OPTIONAL { ?m kg:candidate ?candidate . ?candidate schema:isPartOf ?candDoc } }
  }
} ORDER BY ?claim ?quote
"""

DROPPED = """
SELECT DISTINCT ?analysis ?quote ?dropped ?qualifier WHERE {
  ?m kg:matchedQuote ?quote ; kg:droppedText ?dropped ; kg:dropsQualifier ?qualifier .
  ?quote schema:isPartOf ?analysis .
}
"""

CITES = "SELECT DISTINCT ?analysis ?cited WHERE { ?analysis cito:cites ?cited }"


def short(iri: str | None) -> str:
    """'https://example.org/kg/id/claim/post/x' -> 'post/x'."""
    rest = (iri or "").removeprefix(ID)
    return rest.split("/", 1)[1] if "/" in rest else rest


@dataclass
class Content:
    key: str
    clause: str | None
    event: str | None
    date: str | None
    status: str | None
    condition: str | None
    topic: str | None


@dataclass
class Finding:
    verdict: str
    explanation: str
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "label": LABELS[self.verdict],
            "explanation": self.explanation,
            "evidence": self.evidence,
        }


@dataclass
class Graph:
    """Everything the rules need, read with a handful of bulk queries."""

    contents: dict[str, list[Content]]  # claim -> what it asserts
    claim_doc: dict[str, str]
    claim_kind: dict[str, str]
    claim_outlet: dict[str, str]
    docs: dict[str, dict[str, Any]]
    parts: dict[str, set[str]]
    labels: dict[str, str]


def read_graph(store: Queryable) -> Graph:
    contents: dict[str, list[Content]] = {}
    claim_doc: dict[str, str] = {}
    claim_kind: dict[str, str] = {}
    claim_outlet: dict[str, str] = {}
    for r in rows_of(store, ASSERTIONS):
        claim = str(r["claim"])
        claim_doc[claim], claim_kind[claim], claim_outlet[claim] = str(r["doc"]), str(r["kind"]), str(r["outlet"])
        if r.get("topic"):
            c = Content(f"topic:{r['topic']}", None, None, None, None, None, str(r["topic"]))
        else:
            c = Content(
                f"clause:{r['clause']}|{r['event']}|{r['status']}",
                str(r["clause"]),
                str(r["event"]),
                r.get("date"),
                str(r["status"]),
                r.get("condition"),
                None,
            )
        contents.setdefault(claim, []).append(c)
    own = {str(r["doc"]) for r in rows_of(store, OWN_PAGES)}
    analyses = {str(r["doc"]) for r in rows_of(store, ANALYSES)}
    docs = {
        str(r["doc"]): {
            "publisher": r["publisher"],
            "name": r["name"],
            "published": r.get("published"),
            "own": str(r["doc"]) in own,
            "analysis": str(r["doc"]) in analyses,
        }
        for r in rows_of(store, DOCUMENTS)
    }
    parts: dict[str, set[str]] = {}
    for r in rows_of(store, PARTS):
        parts.setdefault(str(r["whole"]), set()).add(str(r["part"]))
    labels = {str(r["x"]): str(r["label"]) for r in rows_of(store, LABELS_Q)}
    return Graph(contents, claim_doc, claim_kind, claim_outlet, docs, parts, labels)


SHOWN = 12  # analyses named when the store holds several and none was chosen


def find_analysis(store: Queryable, ref: str | None) -> str:
    found = [str(r["doc"]) for r in rows_of(store, ANALYSES)]
    if ref is None:
        if len(found) == 1:
            return found[0]
        names = ", ".join(short("x/" + d.removeprefix(ID)) for d in found[:SHOWN]) or "none"
        more = f", and {len(found) - SHOWN} more: 'kg query sources' lists them" if len(found) > SHOWN else ""
        raise NotFoundError(f"the store holds {len(found)} analyses ({names}{more}). Pass one with --source")
    iri = ref if ref.startswith("http") else f"{ID}source/{ref.removeprefix('source/')}"
    if iri not in found:
        raise NotFoundError(f"{ref} is not an analysis source in the store. Run 'kg query sources' to list them")
    return iri


def _ev(kind: str, iri: str, text: str | None = None, date: str | None = None, **more: Any) -> dict[str, Any]:
    return {"kind": kind, "iri": iri, "id": short(iri), "text": text, "date": date, **more}


def _doc_ev(g: Graph, doc: str) -> dict[str, Any]:
    d = g.docs.get(doc, {})
    return _ev("source", doc, None, d.get("published"), outlet=d.get("name"), own_page=d.get("own", False))


def _later(date_a: str | None, date_b: str | None) -> bool:
    return bool(date_a and date_b and date_a > date_b)


def judge_claim(
    g: Graph, claim: str, quotes: list[dict[str, Any]], cited: set[str], support_graph: Any
) -> tuple[list[Finding], list[str]]:
    """The findings for one claim of the analysis, and the outlets that support it."""
    from kg.analytics import supporting_outlets

    findings: list[Finding] = []
    mine = g.contents.get(claim, [])
    analysis_docs = {d for d, v in g.docs.items() if v["analysis"]}
    if not mine and not quotes:
        return [Finding("not-checkable", "an analysis or opinion: nothing structured to check")], []
    # Quotes: unattributed, dropped qualifiers, evidence older than the event claimed.
    events = [(c.event, c.date) for c in mine if c.event]
    for q in quotes:
        if q["match"] in (None, "none"):
            findings.append(
                Finding(
                    "unattributed",
                    f"quote {short(q['quote'])} matches no recorded source",
                    [_ev("quote", q["quote"], q["qtext"])],
                )
            )
            continue
        doc = q["candDoc"]
        if q["dropped_qualifiers"]:
            findings.append(
                Finding(
                    "qualifier-dropped",
                    f"quote {short(q['quote'])} drops the condition \u201c{bare(q['dropped_qualifiers'][0])}\u201d "
                    f"that {g.docs[doc]['name']} states",
                    [
                        _ev("quote", q["quote"], q["qtext"]),
                        _ev("quote", q["candidate"], None, match=q["match"]),
                        _doc_ev(g, doc),
                    ],
                )
            )
        published = g.docs.get(doc, {}).get("published")
        for event, date in events:
            if _later(date, published):
                findings.append(
                    Finding(
                        "older-than-event",
                        f"quote {short(q['quote'])} matches ({q['match']}) {g.docs[doc]['name']} of {published}, "
                        f"older than the event it is used for ({g.labels.get(str(event), event)}, {date})",
                        [
                            _ev("quote", q["quote"], q["qtext"]),
                            _doc_ev(g, doc),
                            _ev("event", str(event), g.labels.get(str(event)), date),
                        ],
                    )
                )
    # Content: support, contradiction, supersession, missing conditions.
    outlets: dict[str, set[str]] = {}
    for c in mine:
        for outlet, docs in supporting_outlets(support_graph, c.key, exclude_docs=analysis_docs).items():
            outlets.setdefault(outlet, set()).update(docs)
    for q in quotes:  # a quoted source supports the claim only if it is not older than what it describes
        doc = g.docs.get(q["candDoc"] or "")
        if q["match"] in ("exact", "trimmed") and doc and not any(_later(d, doc["published"]) for _, d in events):
            outlets.setdefault(str(doc["publisher"]), set()).add(str(q["candDoc"]))
    for c in mine:
        if c.clause is None:
            continue
        findings += _contradictions(g, claim, c, analysis_docs, len(outlets))
        findings += _supersession(g, c, analysis_docs)
        findings += _missing_condition(g, claim, c, analysis_docs)
    names = sorted({g.docs[d]["name"] for docs in outlets.values() for d in docs})
    support_docs = sorted({d for docs in outlets.values() for d in docs})
    if mine or quotes:
        if not outlets:
            findings.append(Finding("not-in-cited-sources", "no source in the graph supports it"))
        else:
            own = [d for d in support_docs if g.docs[d]["own"]]
            verdict = "supported-own-page" if own else "supported-secondary-only"
            findings.append(
                Finding(
                    verdict,
                    f"supported by {len(outlets)} independent outlet(s): {', '.join(names)}",
                    [_doc_ev(g, d) for d in support_docs],
                )
            )
            if len(outlets) == 1:
                findings.append(
                    Finding("single-sourced", f"only {names[0]} supports it", [_doc_ev(g, d) for d in support_docs])
                )
            if cited and not (set(support_docs) & cited):
                findings.append(
                    Finding(
                        "not-in-cited-sources",
                        f"none of the {len(cited)} sources the analysis cites supports it; "
                        f"only {', '.join(names)} does",
                        [_doc_ev(g, d) for d in support_docs],
                    )
                )
    return findings, names


def _others(g: Graph, analysis_docs: set[str]) -> list[tuple[str, Content]]:
    return [(cl, c) for cl, cs in g.contents.items() if g.claim_doc[cl] not in analysis_docs for c in cs]


def _contradictions(g: Graph, claim: str, c: Content, analysis_docs: set[str], support: int) -> list[Finding]:
    scope = {c.clause} | g.parts.get(str(c.clause), set())
    against = [
        (cl, o)
        for cl, o in _others(g, analysis_docs)
        if o.clause in scope and o.event == c.event and o.status != c.status
    ]
    if not against:
        return []
    primary = [cl for cl, _ in against if g.claim_kind[cl] == "company-statement"]
    outlets = {g.claim_outlet[cl] for cl, _ in against}
    if not primary and len(outlets) <= support:
        return []
    part = any(o.clause != c.clause for _, o in against)
    who = "the companies' own statement" if primary else f"{len(outlets)} outlet(s)"
    label = g.labels.get(str(c.clause), c.clause)
    detail = "; ".join(sorted({f"{g.labels.get(str(o.clause), o.clause)} is {o.status}" for _, o in against}))
    return [
        Finding(
            "contradicted",
            f"{label} is {c.status} here, but {who} say{'s' if primary else ''} "
            f"{'in part ' if part else ''}otherwise: {detail}",
            [
                _ev(
                    "claim",
                    cl,
                    None,
                    g.docs[g.claim_doc[cl]].get("published"),
                    outlet=g.docs[g.claim_doc[cl]]["name"],
                    claim_kind=g.claim_kind[cl],
                )
                for cl, _ in against
            ],
        )
    ]


def _supersession(g: Graph, c: Content, analysis_docs: set[str]) -> list[Finding]:
    earlier = [
        (cl, o) for cl, o in _others(g, analysis_docs) if o.clause == c.clause and o.date and c.date and o.date < c.date
    ]
    if not earlier:
        return []
    latest = max(o.date for _, o in earlier if o.date)
    last = [(cl, o) for cl, o in earlier if o.date == latest]
    if all(o.status == c.status for _, o in last) or any(
        o.event == c.event for _, o in _others(g, analysis_docs) if o.clause == c.clause
    ):
        return []
    o = last[0][1]
    return [
        Finding(
            "superseded",
            f"the last recorded change before {c.date} ({g.labels.get(str(o.event), o.event)}, {o.date}) "
            f"made {g.labels.get(str(c.clause), c.clause)} {o.status}, not {c.status}",
            [
                _ev("claim", cl, None, x.date, outlet=g.docs[g.claim_doc[cl]]["name"], claim_kind=g.claim_kind[cl])
                for cl, x in last
            ]
            + [_ev("event", str(o.event), g.labels.get(str(o.event)), o.date)],
        )
    ]


def _missing_condition(g: Graph, claim: str, c: Content, analysis_docs: set[str]) -> list[Finding]:
    if c.condition:
        return []
    stated = [
        (cl, o)
        for cl, o in _others(g, analysis_docs)
        if o.clause == c.clause and o.event == c.event and o.status == c.status and o.condition
    ]
    if not stated:
        return []
    condition = stated[0][1].condition
    return [
        Finding(
            "qualifier-dropped",
            f"{g.labels.get(str(c.clause), c.clause)} is stated without the condition "
            f"\u201c{condition}\u201d that {len({g.claim_outlet[cl] for cl, _ in stated})} source(s) give",
            [
                _ev(
                    "claim",
                    cl,
                    o.condition,
                    g.docs[g.claim_doc[cl]].get("published"),
                    outlet=g.docs[g.claim_doc[cl]]["name"],
                )
                for cl, o in stated
            ],
        )
    ]


def summarize(claims: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"claims": len(claims), "supported": 0, "with_findings": 0, "not_checkable": 0}
    for c in claims:
        verdicts = {v["verdict"] for v in c["verdicts"]}
        if verdicts == {"not-checkable"}:
            counts["not_checkable"] += 1
        elif verdicts & set(PROBLEMS):
            counts["with_findings"] += 1
        else:
            counts["supported"] += 1
    return counts


def summary_line(s: dict[str, int]) -> str:
    return (
        f"{s['claims']} claims: {s['supported']} supported, {s['with_findings']} with findings, "
        f"{s['not_checkable']} not checkable"
    )


def audit(store: Queryable, source: str | None = None, *, traces: bool = True) -> dict[str, Any]:
    """Verdicts with evidence for every claim of an analysis (the only one, or `source`)."""
    from kg.analytics import Assertion, claim_graph
    from kg.tracing import claim as trace_claim
    from kg.tracing import source as trace_source

    analysis = find_analysis(store, source)
    g = read_graph(store)
    support_graph = claim_graph(
        Assertion(cl, g.claim_doc[cl], g.claim_outlet[cl], c.key) for cl, cs in g.contents.items() for c in cs
    )
    qualifiers: dict[str, list[str]] = {}
    for r in rows_of(store, DROPPED, analysis=analysis):
        if r["qualifier"] == "true":
            qualifiers.setdefault(str(r["quote"]), []).append(str(r["dropped"]))
    cited = {str(r["cited"]) for r in rows_of(store, CITES, analysis=analysis)}
    by_claim: dict[str, dict[str, Any]] = {}
    for r in rows_of(store, POST_CLAIMS, analysis=analysis):
        entry = by_claim.setdefault(str(r["claim"]), {"text": r["text"], "kind": r["kind"], "quotes": []})
        if r.get("quote"):
            entry["quotes"].append({**r, "dropped_qualifiers": qualifiers.get(str(r["quote"]), [])})
    claims = []
    for claim_iri, entry in by_claim.items():
        findings, outlets = judge_claim(g, claim_iri, entry["quotes"], cited, support_graph)
        claims.append(
            {
                "id": short(claim_iri),
                "iri": claim_iri,
                "text": entry["text"],
                "kind": entry["kind"],
                "independent_outlets": len(outlets),
                "supporting_outlets": outlets,
                "verdicts": [f.as_dict() for f in findings],
                "trace": trace_claim(store, claim_iri) if traces else None,
            }
        )
    claims.sort(key=lambda c: c["id"])
    summary = summarize(claims)
    return {
        "analysis": trace_source(store, analysis),
        "summary": summary,
        "summary_line": summary_line(summary),
        "claims": claims,
    }


def verdict_terms() -> dict[str, Any]:
    """Verdict notation -> its concept in kg:VerdictScheme."""
    from kg.vocab import KG

    return {
        "supported-own-page": KG.SupportedOwnPage,
        "supported-secondary-only": KG.SupportedSecondaryOnly,
        "qualifier-dropped": KG.QualifierDropped,
        "older-than-event": KG.OlderThanEvent,
        "superseded": KG.Superseded,
        "contradicted": KG.Contradicted,
        "unattributed": KG.Unattributed,
        "single-sourced": KG.SingleSourced,
        "not-in-cited-sources": KG.NotInCitedSources,
        "not-checkable": KG.NotCheckable,
    }


def audit_graph_iri(report: dict[str, Any]) -> str:
    return f"{ID}graph/audit/{report['analysis']['id']}"


def audit_nquads(report: dict[str, Any], *, when: str) -> str:
    """The verdicts as quads of the audit graph, with provenance saying they were computed, and when."""
    from kg.build import TOOL, Quad, Text, nquads
    from kg.vocab import IRI, KG, PROV, RDF, XSD, mint

    analysis_id = report["analysis"]["id"]
    g, run = IRI(audit_graph_iri(report)), mint("audit", analysis_id)
    stamp = Text(when, XSD.dateTime)
    verdicts = verdict_terms()
    quads: list[Quad] = [
        (run, RDF.type, KG.Audit, g),
        (run, RDF.type, PROV.Activity, g),
        (run, PROV.used, IRI(report["analysis"]["iri"]), g),
        (run, PROV.endedAtTime, stamp, g),
        (run, PROV.wasAssociatedWith, TOOL, g),
    ]
    for c in report["claims"]:
        claim = IRI(c["iri"])
        quads.append((claim, KG.independentOutlets, Text(str(c["independent_outlets"]), XSD.integer), g))
        local = c["id"].split("/", 1)[1]
        for i, v in enumerate(c["verdicts"], 1):
            f = mint("finding", analysis_id, local, f"{i}-{v['verdict']}")
            quads += [
                (f, RDF.type, KG.Finding, g),
                (f, RDF.type, PROV.Entity, g),
                (f, KG.findingFor, claim, g),
                (f, KG.verdict, verdicts[v["verdict"]], g),
                (f, KG.explanation, Text(v["explanation"]), g),
                (f, PROV.wasGeneratedBy, run, g),
                (f, PROV.generatedAtTime, stamp, g),
            ]
            quads += [(f, PROV.wasDerivedFrom, IRI(e["iri"]), g) for e in v["evidence"]]
    return nquads(quads)
