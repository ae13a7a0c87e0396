"""Pure: source records (and the computed quote matches) to quads and canonical N-Quads.

Graph layout (every IRI from :func:`kg.vocab.mint`, no blank nodes):
- one graph per record file (``id/graph/record/<record>``): the document, its evidence pages,
  quotes and their anchors; or the organizations; or the agreement, clauses, events, topics;
- one nanopublication per claim: ``id/np/<record>/<claim>/head|provenance|pubinfo`` and the
  assertion graph, whose IRI is the claim's IRI ``id/claim/<record>/<claim>``;
- ``id/graph/derived``: what the build computes: clause revision chains and quote matches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, NamedTuple

from kg import vocab
from kg.matching import Match, Passage, match_quote
from kg.model import Agreement, Assertion, Claim, Corpus, Document, Evidence, Registry
from kg.vocab import IRI, mint


class Text(NamedTuple):
    """A literal as the build makes it (a tuple: cheap to make, and a build makes millions)."""

    value: str
    datatype: str | None = None  # None is xsd:string
    language: str | None = None


Term = IRI | Text
Quad = tuple[IRI, IRI, Term, IRI]


class _Made:
    """A namespace whose terms are made once each: a namespace makes a new IRI per attribute access."""

    def __init__(self, namespace: Any) -> None:
        self._namespace = namespace

    def __getattr__(self, name: str) -> IRI:
        term: IRI = getattr(self._namespace, name)
        setattr(self, name, term)
        return term

    def __getitem__(self, name: str) -> IRI:
        term: IRI = self._namespace[name]
        return term


ADMS: Any = _Made(vocab.ADMS)
CITO: Any = _Made(vocab.CITO)
DCTERMS: Any = _Made(vocab.DCTERMS)
FIBO: Any = _Made(vocab.FIBO)
KG: Any = _Made(vocab.KG)
NP: Any = _Made(vocab.NP)
NPX: Any = _Made(vocab.NPX)
OA: Any = _Made(vocab.OA)
PROV: Any = _Made(vocab.PROV)
RDF: Any = _Made(vocab.RDF)
RDFS: Any = _Made(vocab.RDFS)
SCHEMA: Any = _Made(vocab.SCHEMA)
SKOS: Any = _Made(vocab.SKOS)
WD: Any = _Made(vocab.WD)
XSD: Any = _Made(vocab.XSD)
_XSD_STRING = str(XSD.string)

DERIVED = mint("graph", "derived")
ONTOLOGY = mint("graph", "ontology")
TOOL = mint("agent", "kg-build")

STATUS = {"exclusive": KG.Exclusive, "non-exclusive": KG.NonExclusive, "in-force": KG.InForce, "ended": KG.Ended}
CLAIM_KIND = {
    "reported-fact": KG.ReportedFact,
    "company-statement": KG.CompanyStatement,
    "analysis": KG.Analysis,
    "opinion": KG.Opinion,
}
COPY_KIND = {
    "own-page": KG.OwnPage,
    "same-publisher": KG.SamePublisher,
    "secondary": KG.SecondaryCopy,
    "reference": KG.DocumentReference,
}
MATCH_KIND = {"exact": KG.ExactMatch, "trimmed": KG.TrimmedMatch, "partial": KG.PartialMatch, "none": KG.NoMatch}
DOC_CLASSES = {
    "news-article": (SCHEMA.NewsArticle,),
    "company-announcement": (KG.CompanyAnnouncement, SCHEMA.Article),
    "analysis": (KG.AnalysisPost, SCHEMA.Article),
}
ORG_CLASSES = {
    "company": (SCHEMA.Organization,),
    "news-outlet": (SCHEMA.Organization, SCHEMA.NewsMediaOrganization),
    "product": (SCHEMA.Product,),
}
CONTEXT_CHARS = 32


def text(value: str, *, language: str | None = None) -> Text:
    return Text(value, None, language)


def typed(value: object, datatype: IRI) -> Text:
    return Text(str(value).lower() if isinstance(value, bool) else str(value), str(datatype))


def record_graph(record_id: str) -> IRI:
    return mint("graph", "record", record_id)


def claim_iri(record_id: str, claim_id: str) -> IRI:
    return mint("claim", record_id, claim_id)


def quote_iri(record_id: str, quote_id: str) -> IRI:
    return mint("quote", record_id, quote_id)


def source_iri(record_id: str) -> IRI:
    return mint("source", record_id)


def version_iri(clause: str, version: str) -> IRI:
    return mint("clause-version", clause, version)


def _evidence_quads(
    record_id: str, subject: IRI, ev: dict[str, Evidence], retrieved: str | None, g: IRI
) -> Iterator[Quad]:
    for key in sorted(ev):
        e, page = ev[key], mint("page", record_id, key)
        yield page, RDF.type, KG.SourceCopy, g
        yield page, RDF.type, PROV.Entity, g
        yield page, KG.copyKind, COPY_KIND[e.copy], g
        if e.url is not None:
            yield page, RDF.type, SCHEMA.WebPage, g
            yield page, SCHEMA.url, IRI(e.url), g
        if e.ref is not None:
            yield page, DCTERMS.bibliographicCitation, text(e.ref), g
        if e.note is not None:
            yield page, RDFS.comment, text(e.note), g
        if retrieved is not None:
            yield page, KG.retrieved, typed(retrieved, XSD.date), g
        if subject != page:
            yield subject, KG.seenAt, page, g


def document_quads(doc: Document, *, file: str) -> Iterator[Quad]:
    """The record graph of one document: its description, evidence, quotes and anchors."""
    g, a = record_graph(doc.id), source_iri(doc.id)
    yield g, KG.recordFile, text(file), g
    for cls in (*DOC_CLASSES[doc.type], PROV.Entity):
        yield a, RDF.type, cls, g
    yield a, SCHEMA.publisher, mint("org", doc.publisher), g
    yield a, KG.retrieved, typed(doc.retrieved, XSD.date), g
    yield a, KG.textFound, typed(doc.status == "found", XSD.boolean), g
    yield a, KG.recordFile, text(file), g
    if doc.title is not None and doc.title.text is not None:
        yield a, SCHEMA.headline, text(doc.title.text), g
        yield a, KG.titleSeenAt, mint("page", doc.id, doc.title.seen_at), g
        if doc.title.confirmed is not None:
            yield a, KG.titleConfirmed, typed(doc.title.confirmed, XSD.boolean), g
    if doc.dek is not None and doc.dek.text is not None:
        yield a, SCHEMA.alternativeHeadline, text(doc.dek.text), g
    if doc.url is not None:
        yield a, SCHEMA.url, IRI(doc.url), g
    if doc.published is not None and doc.published.date is not None:
        yield a, SCHEMA.datePublished, typed(doc.published.date, XSD.date), g
        yield a, KG.dateSeenAt, mint("page", doc.id, doc.published.seen_at), g
        yield a, KG.dateBasis, text(doc.published.basis or "stated"), g
    for author in doc.authors:
        if author.text is not None:
            yield a, SCHEMA.author, text(author.text), g
    if doc.about_event is not None:
        yield a, SCHEMA.about, mint("event", doc.about_event), g
    if doc.note is not None:
        yield a, RDFS.comment, text(doc.note), g
    for cited in doc.cites:
        yield a, CITO.cites, source_iri(cited), g
    for section in doc.sections:
        s = mint("section", doc.id, section.id)
        yield a, SCHEMA.hasPart, s, g
        yield s, RDF.type, KG.Section, g
        yield s, SCHEMA.name, text(section.title), g
    yield from _evidence_quads(doc.id, a, doc.evidence, doc.retrieved, g)
    for q in doc.quotes:
        yield from _quote_quads(doc, q.id, q.text, q.context, q.where, q.speaker, q.seen_at, g)


def _quote_quads(
    doc: Document,
    qid: str,
    exact: str,
    context: str | None,
    where: str | None,
    speaker: str | None,
    seen_at: str | None,
    g: IRI,
) -> Iterator[Quad]:
    q, a, anchor = quote_iri(doc.id, qid), source_iri(doc.id), mint("anchor", doc.id, qid)
    yield q, RDF.type, SCHEMA.Quotation, g
    yield q, RDF.type, PROV.Entity, g
    yield q, SCHEMA.text, text(exact), g
    yield q, SCHEMA.isPartOf, a, g
    yield q, SCHEMA.isBasedOn, anchor, g
    if doc.type != "analysis":  # the post's quotes are unattributed: where they come from is computed
        yield q, PROV.wasQuotedFrom, a, g
    if speaker is not None:
        yield q, SCHEMA.creator, mint("org", speaker), g
    if where is not None:
        yield q, KG.locatedIn, text(where), g
    if seen_at is not None:
        yield q, KG.seenAt, mint("page", doc.id, seen_at), g
    tqs = mint("anchor", doc.id, qid, "quote")
    yield anchor, RDF.type, OA.SpecificResource, g
    yield anchor, OA.hasSource, a, g
    yield anchor, OA.hasSelector, tqs, g
    yield tqs, RDF.type, OA.TextQuoteSelector, g
    yield tqs, OA.exact, text(exact), g
    if context is not None:
        start = context.index(exact)
        end = start + len(exact)
        if start > 0:
            yield tqs, OA.prefix, text(context[max(0, start - CONTEXT_CHARS) : start]), g
        if end < len(context):
            yield tqs, OA.suffix, text(context[end : end + CONTEXT_CHARS]), g
        # Offsets are code points into the recorded passage (the quote's context), not the page.
        tps = mint("anchor", doc.id, qid, "position")
        yield anchor, OA.hasSelector, tps, g
        yield tps, RDF.type, OA.TextPositionSelector, g
        yield tps, OA.start, typed(start, XSD.integer), g
        yield tps, OA.end, typed(end, XSD.integer), g


def _assertion_quads(a: Assertion, g: IRI) -> Iterator[Quad]:
    if a.topic is not None:
        yield mint("topic", a.topic), KG.holds, typed(True, XSD.boolean), g
        return
    assert a.clause is not None and a.version is not None and a.status is not None
    v = version_iri(a.clause, a.version)
    yield v, RDF.type, KG.ClauseVersion, g
    yield v, DCTERMS.isVersionOf, mint("clause", a.clause), g
    yield v, PROV.wasGeneratedBy, mint("event", a.version), g
    yield v, ADMS.status, STATUS[a.status], g
    if a.holder is not None:
        yield v, KG.holder, mint("org", a.holder), g
    if a.rate is not None:
        yield v, KG.rate, typed(a.rate, XSD.decimal), g
    if a.until is not None:
        yield v, KG.until, typed(a.until, XSD.gYear), g
    if a.capped is not None:
        yield v, KG.capped, typed(a.capped, XSD.boolean), g
    if a.cap_usd is not None:
        yield v, KG.capAmountUSD, typed(a.cap_usd, XSD.integer), g
    if a.amount_usd is not None:
        yield v, KG.amountUSD, typed(a.amount_usd, XSD.integer), g
    if a.condition is not None:
        yield v, KG.condition, text(a.condition), g


def claim_quads(doc: Document, claim: Claim, *, file: str) -> Iterator[Quad]:
    """One nanopublication: head, assertion, provenance and publication-info graphs."""
    np = mint("np", doc.id, claim.id)
    head, prov, info = (mint("np", doc.id, claim.id, part) for part in ("head", "provenance", "pubinfo"))
    c = claim_iri(doc.id, claim.id)
    yield np, RDF.type, NP.Nanopublication, head
    yield np, NP.hasAssertion, c, head
    yield np, NP.hasProvenance, prov, head
    yield np, NP.hasPublicationInfo, info, head
    for a in claim.asserts:
        yield from _assertion_quads(a, c)
    yield c, RDF.type, SCHEMA.Claim, prov
    yield c, SCHEMA.text, text(claim.text), prov
    yield c, KG.claimKind, CLAIM_KIND[claim.kind], prov
    yield c, SCHEMA.appearance, source_iri(doc.id), prov
    yield c, PROV.wasAttributedTo, mint("org", doc.publisher), prov
    if claim.section is not None:
        yield c, KG.section, mint("section", doc.id, claim.section), prov
    for qid in claim.supported_by:
        yield c, PROV.wasDerivedFrom, quote_iri(doc.id, qid), prov
        yield c, CITO.citesAsEvidence, quote_iri(doc.id, qid), prov
    for qid in claim.disputed_by:
        yield quote_iri(doc.id, qid), CITO.disputes, c, prov
    yield np, DCTERMS.creator, TOOL, info
    yield np, NPX.hasNanopubType, SCHEMA.Claim, info
    yield np, KG.recordFile, text(file), info
    yield np, KG.recordLine, typed(claim.line, XSD.integer), info


def registry_quads(reg: Registry, *, file: str) -> Iterator[Quad]:
    g = record_graph(reg.id)
    yield g, KG.recordFile, text(file), g
    for o in reg.organizations:
        org = mint("org", o.id)
        for cls in ORG_CLASSES[o.kind]:
            yield org, RDF.type, cls, g
        if o.kind != "product":
            yield org, RDF.type, PROV.Agent, g
        yield org, SCHEMA.name, text(o.name), g
        if o.part_of is not None:
            link = SCHEMA.manufacturer if o.kind == "product" else SCHEMA.parentOrganization
            yield org, link, mint("org", o.part_of), g
        if o.qid is not None and o.qid_seen_at is not None:
            ident = mint("identifier", o.id, "wikidata")
            yield org, SCHEMA.sameAs, WD[o.qid], g
            yield org, SCHEMA.identifier, ident, g
            yield ident, RDF.type, SCHEMA.PropertyValue, g
            yield ident, SCHEMA.propertyID, text("wikidata"), g
            yield ident, SCHEMA.value, text(o.qid), g
            yield ident, KG.seenAt, mint("page", reg.id, o.qid_seen_at), g
            if o.qid_note is not None:
                yield ident, RDFS.comment, text(o.qid_note), g
    yield from _evidence_quads(reg.id, g, reg.evidence, None, g)


def agreement_quads(ag: Agreement, *, file: str) -> Iterator[Quad]:
    g, a = record_graph(ag.id), mint("agreement", ag.id)
    yield g, KG.recordFile, text(file), g
    yield a, RDF.type, FIBO.Contract, g
    yield a, SCHEMA.name, text(ag.name), g
    for party in ag.parties:
        yield a, SCHEMA.participant, mint("org", party), g
    for c in ag.clauses:
        clause = mint("clause", c.id)
        yield a, FIBO.hasContractualElement, clause, g
        yield clause, RDF.type, KG.Clause, g
        yield clause, SKOS.prefLabel, text(c.label, language="en"), g
        yield clause, SKOS.definition, text(c.description, language="en"), g
        yield clause, DCTERMS.isPartOf, a, g
        for part in c.parts:
            yield clause, DCTERMS.hasPart, mint("clause", part), g
    for t in ag.topics:
        topic = mint("topic", t.id)
        yield topic, RDF.type, KG.Topic, g
        yield topic, SKOS.prefLabel, text(t.label, language="en"), g
    for e in ag.events:
        ev = mint("event", e.id)
        yield ev, RDF.type, SCHEMA.Event, g
        if e.kind == "version":
            yield ev, RDF.type, KG.Amendment, g
            yield ev, RDF.type, PROV.Activity, g
            yield ev, SCHEMA.about, a, g
        yield ev, SCHEMA.name, text(e.label), g
        if e.date is not None:
            yield ev, SCHEMA.startDate, typed(e.date, XSD.date), g
        if e.seen_at is not None:
            yield ev, KG.seenAt, mint("page", ag.id, e.seen_at), g
        if e.note is not None:
            yield ev, RDFS.comment, text(e.note), g
    yield from _evidence_quads(ag.id, g, ag.evidence, None, g)


def timeline_quads(corpus: Corpus) -> Iterator[Quad]:
    """Chain the versions of each clause in event order: v2 prov:wasRevisionOf v1."""
    events = corpus.events()
    versions: dict[str, set[str]] = {}
    for doc in corpus.documents:
        for claim in doc.claims:
            for a in claim.asserts:
                if a.clause is not None and a.version is not None:
                    versions.setdefault(a.clause, set()).add(a.version)
    for clause, found in sorted(versions.items()):
        ordered = sorted(found, key=lambda v: (events[v].date or "", v))
        for before, after in pairwise(ordered):
            old, new, activity = version_iri(clause, before), version_iri(clause, after), mint("event", after)
            yield new, PROV.wasRevisionOf, old, DERIVED
            yield activity, PROV.used, old, DERIVED
            yield activity, PROV.generated, new, DERIVED


def passages(corpus: Corpus) -> list[Passage]:
    """Every quote (and the longer passage around it) of a non-analysis source, as match candidates."""
    return [
        Passage(d.id, q.id, text)
        for d in corpus.documents
        if d.type != "analysis"
        for q in d.quotes
        for text in ((q.text,) if q.context is None else (q.text, q.context))
    ]


@dataclass(frozen=True)
class QuoteMatch:
    record: str
    quote: str
    match: Match


def match_quotes(corpus: Corpus) -> list[QuoteMatch]:
    """Attribute every quote of every analysis by matching it against the other sources."""
    candidates = passages(corpus)
    return [
        QuoteMatch(d.id, q.id, match_quote(q.text, candidates))
        for d in corpus.documents
        if d.type == "analysis"
        for q in d.quotes
    ]


def match_quads(matches: Iterable[QuoteMatch]) -> Iterator[Quad]:
    g = DERIVED
    for m in matches:
        node, quote = mint("match", m.record, m.quote), quote_iri(m.record, m.quote)
        yield node, RDF.type, KG.QuoteMatch, g
        yield node, RDF.type, PROV.Entity, g
        yield node, KG.matchedQuote, quote, g
        yield node, KG.matchKind, MATCH_KIND[m.match.kind], g
        yield node, PROV.wasGeneratedBy, TOOL, g
        if m.match.passage is None:
            continue
        found = quote_iri(m.match.passage.record, m.match.passage.quote)
        yield node, KG.candidate, found, g
        yield node, KG.matchScore, typed(m.match.score, XSD.decimal), g
        for dropped in m.match.dropped:
            yield node, KG.droppedText, text(dropped), g
        yield node, KG.dropsQualifier, typed(m.match.drops_qualifier, XSD.boolean), g
        if m.match.kind in ("exact", "trimmed"):
            yield quote, PROV.wasQuotedFrom, source_iri(m.match.passage.record), g
            yield quote, PROV.wasDerivedFrom, found, g


def ontology_quads(turtle: str) -> Iterator[Quad]:
    """The ontology as a graph of the dataset, so queries can read labels of statuses and kinds."""
    from kg.store import turtle_triples

    for s, p, o in turtle_triples(turtle):
        assert s.kind == "uri" and o.kind != "bnode", "the ontology has no blank nodes"
        term: Term = Text(o.value, o.datatype, o.language) if o.kind == "literal" else IRI(o.value)
        yield IRI(s.value), IRI(p.value), term, ONTOLOGY


def corpus_quads(corpus: Corpus, *, files: dict[str, str]) -> Iterator[Quad]:
    """All quads of the dataset; files maps record id to the file name shown to users."""
    for reg in corpus.registries:
        yield from registry_quads(reg, file=files[reg.id])
    for ag in corpus.agreements:
        yield from agreement_quads(ag, file=files[ag.id])
    for doc in corpus.documents:
        yield from document_quads(doc, file=files[doc.id])
        for claim in doc.claims:
            yield from claim_quads(doc, claim, file=files[doc.id])
    yield from timeline_quads(corpus)
    yield from match_quads(match_quotes(corpus))


_ECHAR = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
_UCHAR = {chr(c): f"\\u{c:04X}" for c in [*range(0x00, 0x08), 0x0B, *range(0x0E, 0x20), 0x7F]}
_ESCAPES = str.maketrans({**_ECHAR, **_UCHAR})


def _escape(value: str) -> str:
    r"""Canonical N-Triples escaping (RDF 1.2), the same bytes Oxigraph writes.

    >>> print(_escape('a"b\\c\n\x0b'))
    a\"b\\c\n\u000B
    """
    return value.translate(_ESCAPES)


def nt_term(term: Term) -> str:
    """N-Triples form of a term.

    >>> nt_term(Text('say "hi"'))
    '"say \\\\"hi\\\\""'
    >>> nt_term(Text("1", str(XSD.integer)))
    '"1"^^<http://www.w3.org/2001/XMLSchema#integer>'
    """
    if isinstance(term, IRI):
        return f"<{term}>"
    body = f'"{_escape(term.value)}"'
    if term.language:
        return f"{body}@{term.language}"
    if term.datatype is not None and term.datatype != _XSD_STRING:
        return f"{body}^^<{term.datatype}>"
    return body


def nquads(quads: Iterable[Quad]) -> str:
    """Canonical N-Quads: one line per distinct quad, sorted, so equal input gives equal bytes.

    Every quad belongs to exactly one record file, the derived graph or the ontology graph (the
    graph IRI says which), so the dump is also the sorted merge of each part's own canonical lines:
    that is what lets ``kg.incremental`` rewrite only the lines of the records that changed.
    """
    lines = {f"<{s}> <{p}> {nt_term(o)} <{g}> .\n" for s, p, o, g in quads}  # s, p and g are IRIs
    return "".join(sorted(lines))


def record_quads(record: Document | Registry | Agreement, *, file: str) -> Iterator[Quad]:
    """The quads one record file contributes: its record graph, and one nanopublication per claim."""
    if isinstance(record, Registry):
        yield from registry_quads(record, file=file)
    elif isinstance(record, Agreement):
        yield from agreement_quads(record, file=file)
    else:
        yield from document_quads(record, file=file)
        for claim in record.claims:
            yield from claim_quads(record, claim, file=file)


def quad_terms(line: str) -> tuple[str, str, str, str]:
    """Subject, predicate, object and graph of one canonical N-Quads line, in N-Triples form.

    >>> quad_terms('<https://a> <https://p> "x y" <https://g> .\\n')
    ('<https://a>', '<https://p>', '"x y"', '<https://g>')
    """
    s, p, rest = line.split(" ", 2)
    o, g = rest[:-3].rsplit(" ", 1)  # every line ends with " .\n"; only the object can hold spaces
    return s, p, o, g
