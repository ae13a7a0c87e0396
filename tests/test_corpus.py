"""The bundled corpus is honest: every fact carries where it was seen, and nothing is invented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT, SHARED

from kg.model import Document
from kg.records import read_corpus

DOSSIER = SHARED / "reference" / "sources-dossier.md"
POST = SHARED / "seed" / "analysis-post.txt"
CORPUS = read_corpus(ROOT / "sources")


def dossier() -> str:
    assert DOSSIER.exists(), f"{DOSSIER} is missing: the shared/ folder must sit beside the checkout"
    return DOSSIER.read_text(encoding="utf-8")


def all_urls() -> list[tuple[str, str]]:
    urls = []
    for path in sorted((ROOT / "sources").glob("*.yaml")):
        for url in re.findall(r"^\s*url:\s*(\S+)\s*$", path.read_text(encoding="utf-8"), re.M):
            urls.append((path.name, url))
    return urls


@pytest.mark.parametrize(("file", "url"), all_urls())
def test_every_url_appears_in_the_dossier(file: str, url: str) -> None:
    assert url in dossier(), f"{file}: {url} is not in the dossier"


def test_every_document_says_where_it_was_seen() -> None:
    for doc in CORPUS.documents:
        assert doc.evidence, doc.id
        for ev in doc.evidence.values():
            assert ev.url or ev.ref, (doc.id, ev.key)


def test_quotes_are_verbatim_in_the_dossier_or_the_post() -> None:
    folded = re.sub(r"\s+", " ", dossier() + POST.read_text(encoding="utf-8"))
    for doc in CORPUS.documents:
        for q in doc.quotes:
            assert re.sub(r"\s+", " ", q.text) in folded, (doc.id, q.id)


def test_wikidata_ids_only_where_the_dossier_marks_them_verified() -> None:
    text = dossier()
    verified = set(re.findall(r"^\| [^|]+ \| (Q\d+) \| true \|", text, re.M))
    qids = {o.qid for reg in CORPUS.registries for o in reg.organizations if o.qid}
    assert qids and qids <= verified


def test_the_post_keeps_its_quotes_unattributed() -> None:
    post = next(d for d in CORPUS.documents if d.type == "analysis")
    assert len(post.quotes) == 6
    assert all(q.speaker is None for q in post.quotes)
    assert all(q.seen_at in post.evidence and post.evidence[q.seen_at].copy == "reference" for q in post.quotes)


def test_unknown_bylines_dates_and_urls_stay_absent() -> None:
    by_id: dict[str, Document] = {d.id: d for d in CORPUS.documents}
    assert not any(d.authors for d in CORPUS.documents)  # the dossier confirms no byline
    for unknown in ("nyt-loosen-partnership", "indian-express-loosens-ties"):
        assert by_id[unknown].url is None and by_id[unknown].published is None
        assert by_id[unknown].status == "not-found"
    own = {d.id for d in CORPUS.documents if d.url}
    assert "constellation-2026-04-27" in own
    for d in CORPUS.documents:
        if d.url:
            assert any(e.copy == "own-page" and e.url == d.url for e in d.evidence.values())


def test_every_seven_cited_outlet_has_a_record() -> None:
    post = next(d for d in CORPUS.documents if d.type == "analysis")
    outlets = {CORPUS.document(c).publisher for c in post.cites}  # type: ignore[union-attr]
    assert outlets == {
        "nyt",
        "reuters",
        "venturebeat",
        "indian-express",
        "constellation-research",
        "yahoo-finance",
        "financial-times",
    }


def test_dossier_path_is_the_shared_one() -> None:
    assert Path(DOSSIER).name == "sources-dossier.md"
