"""The build: read records, make quads, validate, then replace the dump and the store atomically."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kg.errors import KgError
from kg.model import Agreement, Corpus, Document, Registry, Rows

ONTOLOGY_DIR = Path(__file__).resolve().parent.parent / "ontology"

Progress = Callable[[str], None]


class NonConformantError(KgError):
    """The built dataset does not conform to the shapes; nothing was replaced."""

    def __init__(self, violations: Rows) -> None:
        self.violations = violations
        first = violations.dicts()[0]
        super().__init__(
            f"{first['file'] or 'dataset'}: {len(violations.values)} SHACL violation(s), first: "
            f"{first['message']} (focus {first['focus']}). Fix the record; the previous store was kept"
        )


@dataclass(frozen=True)
class Summary:
    sources: int
    claims: int
    quotes: int
    triples: int
    seconds: float

    def line(self) -> str:
        return (
            f"Built {self.sources} sources, {self.claims} claims, {self.quotes} quotes, "
            f"{self.triples} triples in {self.seconds:.2f}s"
        )


def default_shapes() -> Path:
    return ONTOLOGY_DIR / "shapes.ttl"


def file_names(corpus: Corpus, sources_dir: Path) -> dict[str, str]:
    """Record id -> the file name shown to users (relative to the sources folder's parent)."""
    records: list[Document | Registry | Agreement] = [*corpus.documents, *corpus.registries, *corpus.agreements]
    return {r.id: f"{sources_dir.name}/{r.path.name}" for r in records}


def make_dataset(sources_dir: Path, *, progress: Progress = lambda _m: None) -> tuple[Corpus, str]:
    """Read and check the records, then compute the canonical N-Quads (no file is written)."""
    from itertools import chain

    from kg.build import corpus_quads, nquads, ontology_quads
    from kg.records import read_corpus

    progress(f"reading {sources_dir}")
    corpus = read_corpus(sources_dir)
    progress(f"building quads from {len(corpus.documents)} documents")
    ontology = (ONTOLOGY_DIR / "kg.ttl").read_text(encoding="utf-8")
    quads = chain(corpus_quads(corpus, files=file_names(corpus, sources_dir)), ontology_quads(ontology))
    return corpus, nquads(quads)


def build(
    sources_dir: Path,
    *,
    store_path: Path,
    dump_path: Path,
    shapes: Path | None = None,
    full: bool = False,
    progress: Progress = lambda _m: None,
) -> Summary:
    """Build the dataset from sources_dir; on any error the previous store and dump stay as they were.

    Incremental when the cache beside the store (``<store>.cache``) vouches for the store and the
    dump: only changed, added and deleted records are re-read and re-validated, with the same bytes
    as a full build (see :mod:`kg.incremental`). ``full=True`` rebuilds everything.
    """
    from kg.incremental import run

    return run(sources_dir, store_path=store_path, dump_path=dump_path, shapes=shapes, full=full,
               progress=progress)


def build_in_one_pass(
    sources_dir: Path,
    *,
    store_path: Path,
    dump_path: Path,
    shapes: Path | None = None,
    progress: Progress = lambda _m: None,
) -> Summary:
    """The whole-dataset build without cache or index (the reference the incremental build must equal)."""
    from kg.store import build_lock, write_atomically, write_store
    from kg.validate import validate

    started = time.perf_counter()
    with build_lock(store_path):
        corpus, data = make_dataset(sources_dir, progress=progress)
        progress("validating with SHACL")
        report = validate(data, shapes=shapes or default_shapes())
        if not report.conforms:
            raise NonConformantError(report.violations)
        progress(f"writing {store_path}")
        write_store(store_path, data)
        write_atomically(dump_path, data)
    return Summary(
        sources=len(corpus.documents),
        claims=sum(len(d.claims) for d in corpus.documents),
        quotes=sum(len(d.quotes) for d in corpus.documents),
        triples=data.count("\n"),
        seconds=time.perf_counter() - started,
    )
