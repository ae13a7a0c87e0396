"""Document summaries (DocRefs) and what the build finds from them alone: reference checks and the timeline."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from kg.build import nquads, timeline_quads
from kg.model import Agreement, Assertion, Claim, Corpus, Document, Registry

Record = Document | Registry | Agreement


class DocRefs(NamedTuple):
    """What the cross-record checks and the clause timeline need from one document."""

    publisher: str
    about_event: str | None
    cites: tuple[str, ...]
    speakers: tuple[str, ...]
    asserts: tuple[tuple[str | None, str | None, str | None, str | None], ...]  # clause, version, holder, topic


def doc_refs(doc: Document) -> DocRefs:
    return DocRefs(doc.publisher, doc.about_event, doc.cites,
                   tuple(q.speaker for q in doc.quotes if q.speaker is not None),
                   tuple((a.clause, a.version, a.holder, a.topic) for c in doc.claims for a in c.asserts))


# ---- cross-record references on summaries --------------------------------------------------------


def references_ok(references: Sequence[Record], refs: Sequence[tuple[str, DocRefs]]) -> bool:
    """Whether kg.records.check_corpus would pass; never True when it would raise."""
    orgs: set[str] = set()
    for reg in references:
        if isinstance(reg, Registry):
            for o in reg.organizations:
                if o.id in orgs:
                    return False
                orgs.add(o.id)
    agreements = [a for a in references if isinstance(a, Agreement)]
    events = {e.id: e.kind for a in agreements for e in a.events}
    clauses = {c.id for a in agreements for c in a.clauses}
    topics = {t.id for a in agreements for t in a.topics}
    records = {rid for rid, _r in refs}
    if any(o.part_of is not None and o.part_of not in orgs
           for reg in references if isinstance(reg, Registry) for o in reg.organizations):
        return False
    if any(p not in orgs for a in agreements for p in a.parties):
        return False
    for _rid, r in refs:
        if r.publisher not in orgs or (r.about_event is not None and r.about_event not in events):
            return False
        if any(c not in records for c in r.cites) or any(s not in orgs for s in r.speakers):
            return False
        for clause, version, holder, topic in r.asserts:
            if (clause is not None and clause not in clauses) or (holder is not None and holder not in orgs):
                return False
            if version is not None and events.get(version) != "version":
                return False
            if topic is not None and topic not in topics:
                return False
    return True


# ---- the derived graph: the clause timeline ------------------------------------------------------


def timeline_lines(references: Iterable[Record], refs: Iterable[DocRefs]) -> str:
    """The clause revision chains, from the documents' summaries (with kg.build's own function).

    timeline_quads reads only which (clause, version) pairs the documents assert and the events'
    dates, so one stand-in document holding every pair gives it what the whole corpus would.
    """
    pairs = sorted({(c, v) for r in refs for c, v, _h, _t in r.asserts if c is not None and v is not None})
    claim = Claim("c", "analysis", "", 0, asserts=tuple(Assertion(0, clause=c, version=v, status="in-force")
                                                        for c, v in pairs))
    stand_in = Document("all", "news-article", Path("all"), "", "", {}, claims=(claim,))
    agreements = tuple(r for r in references if isinstance(r, Agreement))
    return nquads(timeline_quads(Corpus((stand_in,), (), agreements)))
