"""Our namespace as a closed vocabulary, the standard namespaces we use, and IRI minting.

Every instance IRI is made by :func:`mint`, so IRIs stay stable and blank nodes never appear.

The terms are plain strings (:class:`IRI`), not rdflib's ``URIRef``: every build makes them, and
importing rdflib costs a build 60 ms before it does any work, more than Oxigraph takes to load the
whole bundled corpus. :class:`ClosedNamespace` keeps the habit of rdflib's ``DefinedNamespace``
with ``_fail = True``: a misspelt term is an ``AttributeError``, never a new IRI. Code that hands
terms to rdflib wraps them in ``URIRef`` there.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from kg.prefixes import BASE, PREFIXES  # noqa: F401  (re-exported)


class IRI(str):
    """An IRI, written ``<iri>`` in N-Quads; equal to the same text as a str."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"IRI({str.__repr__(self)})"


class Namespace(str):
    """An open namespace: ``NS.term`` and ``NS["term"]`` are the IRI of ``term`` in it."""

    __slots__ = ()

    def __getitem__(self, name: Any) -> IRI:  # a namespace is indexed by a term name, not a position
        return IRI(str.__add__(self, name))

    def __getattr__(self, name: str) -> IRI:
        if name.startswith("__"):  # copy, pickle and friends probe for dunder methods
            raise AttributeError(name)
        return IRI(str.__add__(self, name))


class ClosedNamespace:
    """A vocabulary whose terms are the annotated names of the subclass, each an IRI in ``_NS``."""

    _NS: Namespace

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls.__annotations__:
            if not name.startswith("_"):
                setattr(cls, name, IRI(cls._NS + name))

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


class KG(ClosedNamespace):
    """Terms of ontology/kg.ttl; tests/test_vocab.py checks both directions."""

    _NS = Namespace(BASE + "ns#")

    # classes
    CompanyAnnouncement: IRI
    AnalysisPost: IRI
    Section: IRI
    SourceCopy: IRI
    Clause: IRI
    ClauseVersion: IRI
    Amendment: IRI
    Topic: IRI
    QuoteMatch: IRI
    Finding: IRI
    Audit: IRI
    # properties of sources and evidence
    seenAt: IRI
    titleSeenAt: IRI
    dateSeenAt: IRI
    dateBasis: IRI
    titleConfirmed: IRI
    textFound: IRI
    copyKind: IRI
    retrieved: IRI
    locatedIn: IRI
    recordFile: IRI
    recordLine: IRI
    # properties of claims and clauses
    claimKind: IRI
    section: IRI
    holder: IRI
    rate: IRI
    until: IRI
    capped: IRI
    capAmountUSD: IRI
    amountUSD: IRI
    condition: IRI
    holds: IRI
    # quote matching (computed by the build)
    matchedQuote: IRI
    candidate: IRI
    matchKind: IRI
    matchScore: IRI
    droppedText: IRI
    dropsQualifier: IRI
    # audit (computed by kg audit)
    verdict: IRI
    findingFor: IRI
    explanation: IRI
    independentOutlets: IRI
    # concepts: clause status
    ClauseStatusScheme: IRI
    Exclusive: IRI
    NonExclusive: IRI
    InForce: IRI
    Ended: IRI
    # concepts: claim kind
    ClaimKindScheme: IRI
    ReportedFact: IRI
    CompanyStatement: IRI
    Analysis: IRI
    Opinion: IRI
    # concepts: what kind of copy the evidence is
    CopyKindScheme: IRI
    OwnPage: IRI
    SamePublisher: IRI
    SecondaryCopy: IRI
    DocumentReference: IRI
    # concepts: how a quote matched a recorded passage
    MatchKindScheme: IRI
    ExactMatch: IRI
    TrimmedMatch: IRI
    PartialMatch: IRI
    NoMatch: IRI
    # concepts: audit verdicts
    VerdictScheme: IRI
    SupportedOwnPage: IRI
    SupportedSecondaryOnly: IRI
    QualifierDropped: IRI
    OlderThanEvent: IRI
    Superseded: IRI
    Contradicted: IRI
    Unattributed: IRI
    SingleSourced: IRI
    NotInCitedSources: IRI
    NotCheckable: IRI


_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@functools.lru_cache(maxsize=1 << 16)  # a build mints the same organizations' and clauses' IRIs again and again
def mint(kind: str, *parts: str) -> IRI:
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
