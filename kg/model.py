"""Frozen dataclasses for what the source records say, and Rows for tabular results."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kg.errors import QueryError


@dataclass(frozen=True)
class Evidence:
    """A place where facts of a record were seen: a web address or a document reference."""

    key: str
    copy: str  # own-page | same-publisher | secondary | reference
    url: str | None = None
    ref: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Seen:
    """A fact with the evidence it was seen at (a title, a date, an author)."""

    seen_at: str
    text: str | None = None
    date: str | None = None
    basis: str | None = None
    confirmed: bool | None = None
    note: str | None = None


@dataclass(frozen=True)
class Quote:
    """Exact text that appears in a source, optionally inside a longer recorded passage."""

    id: str
    text: str
    line: int
    context: str | None = None
    where: str | None = None
    speaker: str | None = None
    seen_at: str | None = None


@dataclass(frozen=True)
class Assertion:
    """Structured content of a claim: a clause status in one version, or a topic."""

    line: int
    clause: str | None = None
    version: str | None = None
    status: str | None = None
    holder: str | None = None
    rate: float | None = None
    until: int | None = None
    capped: bool | None = None
    cap_usd: int | None = None
    amount_usd: int | None = None
    condition: str | None = None
    topic: str | None = None


@dataclass(frozen=True)
class Claim:
    """A claim made by a source, with the quotes of that source that support or dispute it."""

    id: str
    kind: str
    text: str
    line: int
    section: str | None = None
    asserts: tuple[Assertion, ...] = ()
    supported_by: tuple[str, ...] = ()
    disputed_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Section:
    id: str
    title: str


@dataclass(frozen=True)
class Document:
    """One source document: a news article, a company announcement or an analysis."""

    id: str
    type: str
    path: Path
    publisher: str
    retrieved: str
    evidence: dict[str, Evidence]
    title: Seen | None = None
    dek: Seen | None = None
    url: str | None = None
    published: Seen | None = None
    authors: tuple[Seen, ...] = ()
    about_event: str | None = None
    status: str = "found"
    note: str | None = None
    cites: tuple[str, ...] = ()
    sections: tuple[Section, ...] = ()
    quotes: tuple[Quote, ...] = ()
    claims: tuple[Claim, ...] = ()
    lines: dict[str, int] = field(default_factory=dict, compare=False)

    def line(self, key: str) -> int:
        """The line of a top-level field (1 when the field is absent)."""
        return self.lines.get(key, 1)


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    kind: str  # company | news-outlet | product
    line: int
    part_of: str | None = None
    qid: str | None = None
    qid_note: str | None = None
    qid_seen_at: str | None = None


@dataclass(frozen=True)
class Registry:
    """The organizations file."""

    id: str
    path: Path
    evidence: dict[str, Evidence]
    organizations: tuple[Organization, ...]


@dataclass(frozen=True)
class Clause:
    id: str
    label: str
    description: str
    parts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Topic:
    id: str
    label: str


@dataclass(frozen=True)
class Event:
    id: str
    label: str
    kind: str  # version | context
    date: str | None = None
    note: str | None = None
    seen_at: str | None = None


@dataclass(frozen=True)
class Agreement:
    id: str
    path: Path
    name: str
    parties: tuple[str, ...]
    evidence: dict[str, Evidence]
    clauses: tuple[Clause, ...]
    events: tuple[Event, ...]
    topics: tuple[Topic, ...] = ()


@dataclass(frozen=True)
class Corpus:
    """Everything read from sources/, checked for internal consistency."""

    documents: tuple[Document, ...]
    registries: tuple[Registry, ...]
    agreements: tuple[Agreement, ...]

    def organizations(self) -> dict[str, Organization]:
        return {o.id: o for r in self.registries for o in r.organizations}

    def events(self) -> dict[str, Event]:
        return {e.id: e for a in self.agreements for e in a.events}

    def clauses(self) -> dict[str, Clause]:
        return {c.id: c for a in self.agreements for c in a.clauses}

    def document(self, record_id: str) -> Document | None:
        return next((d for d in self.documents if d.id == record_id), None)


@dataclass(frozen=True)
class Rows:
    """A tabular result: SPARQL SELECT rows, SHACL violations, graph metrics."""

    columns: list[str]
    values: list[list[str | None]] = field(default_factory=list)

    def dicts(self) -> list[dict[str, str | None]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.values]


@dataclass(frozen=True)
class Term:
    """An RDF term as plain data: kind is uri, literal or bnode."""

    kind: str
    value: str
    datatype: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class Result:
    """What a query returned: rows (SELECT), a boolean (ASK) or triples (CONSTRUCT/DESCRIBE)."""

    kind: str  # select | ask | graph
    columns: list[str] = field(default_factory=list)
    terms: list[list[Term | None]] = field(default_factory=list)
    boolean: bool | None = None
    ntriples: str = ""

    def rows(self) -> Rows:
        return Rows(list(self.columns), [[t.value if t else None for t in row] for row in self.terms])

    def select_rows(self) -> Rows:
        """The rows of a SELECT result; a QueryError for an ASK, CONSTRUCT or DESCRIBE."""
        if self.kind != "select":
            raise QueryError("expected a SELECT query")
        return self.rows()
