"""Our namespace as a closed vocabulary, the standard namespaces we use, and IRI minting.

Every instance IRI is made by :func:`mint`, so IRIs stay stable and blank nodes never appear.
"""

from __future__ import annotations

import functools
import re

from rdflib import Namespace, URIRef
from rdflib.namespace import DefinedNamespace

from kg.prefixes import BASE, PREFIXES  # noqa: F401  (re-exported)

ID = Namespace(BASE + "id/")

SCHEMA = Namespace("https://schema.org/")
PROV = Namespace("http://www.w3.org/ns/prov#")
OA = Namespace("http://www.w3.org/ns/oa#")
CITO = Namespace("http://purl.org/spar/cito/")
SKOS = Namespace("http://www.w3.org/2004/02/skos/core#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
DCTERMS = Namespace("http://purl.org/dc/terms/")
NP = Namespace("http://www.nanopub.org/nschema#")
NPX = Namespace("http://purl.org/nanopub/x/")
FIBO = Namespace("https://spec.edmcouncil.org/fibo/ontology/FND/Agreements/Contracts/")
WD = Namespace("http://www.wikidata.org/entity/")
XSD = Namespace("http://www.w3.org/2001/XMLSchema#")
RDF = Namespace("http://www.w3.org/1999/02/22-rdf-syntax-ns#")
RDFS = Namespace("http://www.w3.org/2000/01/rdf-schema#")


class KG(DefinedNamespace):
    """Terms of ontology/kg.ttl; tests/test_vocab.py checks both directions."""

    _NS = Namespace(BASE + "ns#")
    _fail = True  # a misspelt term raises AttributeError instead of minting a new IRI

    # classes
    CompanyAnnouncement: URIRef
    AnalysisPost: URIRef
    Section: URIRef
    SourceCopy: URIRef
    Clause: URIRef
    ClauseVersion: URIRef
    Amendment: URIRef
    Topic: URIRef
    QuoteMatch: URIRef
    Finding: URIRef
    Audit: URIRef
    # properties of sources and evidence
    seenAt: URIRef
    titleSeenAt: URIRef
    dateSeenAt: URIRef
    dateBasis: URIRef
    titleConfirmed: URIRef
    textFound: URIRef
    copyKind: URIRef
    retrieved: URIRef
    locatedIn: URIRef
    recordFile: URIRef
    recordLine: URIRef
    # properties of claims and clauses
    claimKind: URIRef
    section: URIRef
    holder: URIRef
    rate: URIRef
    until: URIRef
    capped: URIRef
    capAmountUSD: URIRef
    amountUSD: URIRef
    condition: URIRef
    holds: URIRef
    # quote matching (computed by the build)
    matchedQuote: URIRef
    candidate: URIRef
    matchKind: URIRef
    matchScore: URIRef
    droppedText: URIRef
    dropsQualifier: URIRef
    # audit (computed by kg audit)
    verdict: URIRef
    findingFor: URIRef
    explanation: URIRef
    independentOutlets: URIRef
    # concepts: clause status
    ClauseStatusScheme: URIRef
    Exclusive: URIRef
    NonExclusive: URIRef
    InForce: URIRef
    Ended: URIRef
    # concepts: claim kind
    ClaimKindScheme: URIRef
    ReportedFact: URIRef
    CompanyStatement: URIRef
    Analysis: URIRef
    Opinion: URIRef
    # concepts: what kind of copy the evidence is
    CopyKindScheme: URIRef
    OwnPage: URIRef
    SamePublisher: URIRef
    SecondaryCopy: URIRef
    DocumentReference: URIRef
    # concepts: how a quote matched a recorded passage
    MatchKindScheme: URIRef
    ExactMatch: URIRef
    TrimmedMatch: URIRef
    PartialMatch: URIRef
    NoMatch: URIRef
    # concepts: audit verdicts
    VerdictScheme: URIRef
    SupportedOwnPage: URIRef
    SupportedSecondaryOnly: URIRef
    QualifierDropped: URIRef
    OlderThanEvent: URIRef
    Superseded: URIRef
    Contradicted: URIRef
    Unattributed: URIRef
    SingleSourced: URIRef
    NotInCitedSources: URIRef
    NotCheckable: URIRef


_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@functools.lru_cache(maxsize=1 << 16)  # a build mints the same organizations' and clauses' IRIs again and again
def mint(kind: str, *parts: str) -> URIRef:
    """The one place instance IRIs are made.

    >>> str(mint("claim", "post", "rofr"))
    'https://example.org/kg/id/claim/post/rofr'
    """
    for part in (kind, *parts):
        if not _SLUG.match(part):
            raise ValueError(f"not an IRI-safe id: {part!r}")
    return ID["/".join((kind, *parts))]


def is_slug(text: str) -> bool:
    """True when text can be used as an id in an IRI (lower-case letters, digits, hyphens)."""
    return bool(_SLUG.match(text))
