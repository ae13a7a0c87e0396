"""The build at scale: records as parts, a content-addressed cache, validation per part, and
incremental updates of the store and the dump.

Every quad of the dataset belongs to exactly one *part*: a record file (its record graph and the
four graphs of each of its claims' nanopublications), one analysis quote's match in the derived
graph, the clause timeline in the derived graph, or the ontology graph. The canonical dump is the
sorted merge of the parts' own sorted lines, so a build that knows which parts changed can rewrite
the dump by splicing and change the store by a difference, and get the same bytes and the same
quads as a full build.

A full build reads every record (on every core when there are many), checks them, matches the
analysis quotes through a bigram index (:class:`QuoteIndex`), writes the dump, validates the parts
in batches (on every core, each batch loaded into an in-memory Oxigraph store and checked by the
shapes compiled to SPARQL, :mod:`kg.shacl`) while the store bulk-loads from the dump in a
background thread (swapped in only if the parts conform), then writes the cache beside the
store (``<store>.cache/``): one file per record, named by the hash of its content, with its
model and its lines; an index with what every next build needs (small, read each time); and side
files read only when needed (every passage; the quote index).

The next build stats the records (a file whose size, mtime and inode are unchanged, and that was
not modified just before the cache was written, is not re-read), re-reads only the changed,
added and deleted ones, and:

- checks references across records on the cached summaries (and, if that finds a problem, on all
  the cached models with :func:`kg.records.check_corpus`, for the very error a full build gives);
- updates the quote matches: each analysis quote keeps every passage it matches, so only the
  changed passages and the changed quotes are matched;
- validates per part: a part's data graph is its own quads plus everything its nodes point to in
  the reference graphs (organizations, agreements, ontology) and in other records' record graphs.
  That gives the same violations as validating the whole dataset when the shapes only follow paths
  forward from a focus node of a class, as ours do (:func:`local_shapes`; other shapes are
  validated on the whole dataset, and every build is then a full one). Nodes that several records
  describe, the clause versions, are described identically by each (their IRI fixes
  ``dcterms:isVersionOf`` and ``prov:wasGeneratedBy``), so a record's own statements suffice.
  A part is validated again when it changed or when something it read changed (:class:`Deps`);
- splices the dump and changes a hard-linked copy of the store, then swaps both in, under
  ``build_lock``; any failure leaves the previous store and dump as they were.

Anything the cache cannot vouch for (another kg version, ontology or shapes, another sources
folder, a store or dump changed behind its back) makes the build a full one.

The quote index and the parsed-query cache for pySHACL (:func:`prepared_sparql`, used only for
shapes kg.shacl does not compile) would sit better in kg.matching and kg.validate; they are here
because this module is the one that needed them.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import multiprocessing
import os
import pickle
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, NamedTuple

from kg.build import (
    DERIVED,
    ONTOLOGY,
    QuoteMatch,
    match_quads,
    nquads,
    ontology_quads,
    quad_terms,
    record_quads,
    timeline_quads,
)
from kg.errors import KgError, SourceError
from kg.matching import (
    DASHES,
    EDGE,
    ELLIPSIS,
    MIN_BIGRAM_SHARE,
    MIN_RUN_WORDS,
    QUOTE_CHARS,
    RANK,
    Match,
    Passage,
    match_quote,
)
from kg.model import Agreement, Assertion, Claim, Corpus, Document, Registry, Rows
from kg.pipeline import ONTOLOGY_DIR, NonConformantError, Progress, Summary, default_shapes
from kg.vocab import ID

CACHE_FORMAT = 1
RACY_NS = 2_000_000_000  # a file modified this close to the cache's writing is re-hashed
POOL_MIN_RECORDS = 300  # below this, one process beats starting workers
POOL_MIN_LINES = 20_000  # the same, for validation
POOL_MIN_PASSAGES = 5_000  # the same, for matching quotes
BATCH_LINES = 5_000  # at most about this many lines per batch: small enough to spread over the cores
BATCH_MIN_LINES = 2_000  # at least this many, unless there are fewer
BUILD_MODULES = ("build", "errors", "incremental", "matching", "model", "pipeline", "prefixes",
                 "records", "shacl", "store", "validate", "vocab")

Record = Document | Registry | Agreement
PKey = tuple[str, str, int]  # a passage: record id, quote id, 0 for the quote and 1 for its context
QKey = tuple[str, str]  # an analysis quote: record id, quote id
Found = list[tuple[PKey, Match]]


# ---- quote matching at scale ---------------------------------------------------------------------

_FOLD = str.maketrans({**dict.fromkeys(QUOTE_CHARS, "'"), **dict.fromkeys(DASHES, "-")})
_WORD = re.compile(r"[\w']+")


def fold(text: str) -> str:
    """What :func:`kg.matching.normalize` folds text to, computed with str methods (much faster).

    >>> fold("It’s  “first”...")
    "it's 'first'…"
    """
    return " ".join(text.replace("...", ELLIPSIS).translate(_FOLD).split()).casefold()


def _words(folded: str) -> list[str]:
    return [w for w in (t.strip("'") for t in _WORD.findall(folded)) if w]


@dataclass
class _Quote:
    key: QKey
    text: str
    frags: list[str]  # the folded quote split at ellipses, as kg.matching cuts it
    pairs: set[tuple[str, str]]  # its word bigrams
    seq: list[tuple[str, str]]  # the same, in order
    need: set[tuple[str, str]]  # bigrams any passage that contains the quote must have

    @classmethod
    def of(cls, key: QKey, text: str) -> _Quote:
        folded = fold(text)
        words = _words(folded)
        seq = list(pairwise(words))
        frags = [f for part in folded.split(ELLIPSIS) if (f := part.strip(EDGE))]
        need: set[tuple[str, str]] = set()
        for frag in frags:  # tokens inside a fragment (not at its edges) are whole words of the passage
            inner = [w for w in (t.strip("'") for t in _WORD.findall(frag)[1:-1]) if w]
            need.update(pairwise(inner))
        return cls(key, text, frags, set(seq), seq, need)

    def may_match(self, pairs: set[tuple[str, str]], folded: str) -> bool:
        """False only when kg.matching cannot match this quote with the passage (a cheap filter)."""
        if self.seq:
            shared = self.pairs & pairs
            if shared:
                if len(shared) / len(self.pairs) >= MIN_BIGRAM_SHARE:
                    return True
                run = 0  # consecutive bigrams of the quote the passage has: a run of words
                for pair in self.seq:
                    run = run + 1 if pair in shared else 0
                    if run >= MIN_RUN_WORDS - 1:
                        return True
        if not self.frags or not self.need <= pairs:
            return False
        pos = 0
        for frag in self.frags:
            at = folded.find(frag, pos)
            if at < 0:
                return False
            pos = at + len(frag)
        return True


class QuoteIndex:
    """Analysis quotes indexed by word bigram, to find the passages each may match.

    :func:`kg.matching.match_quote` compares a quote with every passage of the corpus, which is
    quadratic. A passage can match a quote only if it has some of the quote's word bigrams: a
    partial match shares a run of MIN_RUN_WORDS words (so the bigrams of some window of the quote)
    or a MIN_BIGRAM_SHARE of its bigrams (so at least one of any m - k + 1 of them, when k are
    needed), and a passage that contains the quote has every bigram inside its fragments. Each
    quote is indexed under one such bigram per condition, the rarest, and quotes too short to have
    inner bigrams are tried on every passage. Scanning the passages against the index therefore
    finds every (quote, passage) pair that matches, in time linear in the corpus; the comparison
    itself is still match_quote's.
    """

    def __init__(self, quotes: Iterable[tuple[QKey, str]] = ()) -> None:
        self.texts: dict[QKey, str] = {}
        self.keys: dict[QKey, tuple[tuple[str, str], ...]] = {}  # what each quote is filed under
        self.by_pair: dict[tuple[str, str], dict[QKey, None]] = {}
        self.short: dict[QKey, None] = {}  # no inner bigrams: tried on every passage
        self.common: Counter[tuple[str, str]] | None = Counter()  # how many quotes have each bigram
        self._parsed: dict[QKey, _Quote] = {}
        self.add(quotes)

    def quote(self, key: QKey) -> _Quote:
        if key not in self._parsed:
            self._parsed[key] = _Quote.of(key, self.texts[key])
        return self._parsed[key]

    def add(self, quotes: Iterable[tuple[QKey, str]]) -> None:
        new = list(quotes)
        if not new:
            return
        if self.common is None:  # not kept on disk: recounted when first needed
            self.common = Counter(pair for key in self.texts for pair in self.quote(key).pairs)
        for key, text in new:
            self.texts[key] = text
            self.common.update(self.quote(key).pairs)
        for key, _text in new:
            q = self.quote(key)
            self.keys[key] = tuple(sorted(self._keys(q)))
            for pair in self.keys[key]:
                self.by_pair.setdefault(pair, {})[key] = None
            if q.frags and not q.need:
                self.short[key] = None

    def remove(self, keys: Iterable[QKey]) -> None:
        for key in keys:
            if key not in self.texts:
                continue
            if self.common is not None:
                self.common.subtract(self.quote(key).pairs)
            for pair in self.keys.pop(key):
                del self.by_pair[pair][key]
                if not self.by_pair[pair]:
                    del self.by_pair[pair]
            self.short.pop(key, None)
            self._parsed.pop(key, None)
            del self.texts[key]

    def _keys(self, q: _Quote) -> set[tuple[str, str]]:
        """Bigrams every passage that q can match has (one per condition), the rarest there are."""
        common = self.common or Counter()

        def rarest(pairs: Iterable[tuple[str, str]]) -> tuple[str, str]:
            return min(pairs, key=lambda p: (common[p], p))

        keys: set[tuple[str, str]] = set()
        if q.seq:
            m = len(q.pairs)
            least = next(k for k in range(1, m + 1) if k / m >= MIN_BIGRAM_SHARE)  # shared bigrams needed
            keys.update(sorted(q.pairs, key=lambda p: (common[p], p))[: m - least + 1])  # pigeonhole
            run = MIN_RUN_WORDS - 1
            keys.update(rarest(q.seq[i:i + run]) for i in range(len(q.seq) - run + 1))
        if q.need:
            keys.add(rarest(q.need))
        return keys

    def __getstate__(self) -> dict[str, Any]:
        """Texts and filing only (words hold no space or "|"): small and quick to read back."""
        keys = {k: "|".join(f"{a} {b}" for a, b in pairs) for k, pairs in self.keys.items()}
        return {"texts": self.texts, "keys": keys, "short": list(self.short)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.texts, self.short, self.common, self._parsed = state["texts"], dict.fromkeys(state["short"]), None, {}
        self.keys, self.by_pair = {}, {}
        for key, joined in state["keys"].items():
            pairs = tuple(tuple(p.split(" ", 1)) for p in joined.split("|")) if joined else ()
            self.keys[key] = pairs
            for pair in pairs:
                self.by_pair.setdefault(pair, {})[key] = None

    def scan(self, passages: Iterable[tuple[PKey, str]]) -> dict[QKey, Found]:
        """Every match of an indexed quote with one of passages (kind not "none")."""
        found: dict[QKey, Found] = {}
        if not self.by_pair and not self.short:
            return found
        for pkey, text in passages:
            folded = fold(text)
            words = _words(folded)
            pairs = set(pairwise(words))
            candidates = {k: None for pair in pairs for k in self.by_pair.get(pair, ())}
            candidates.update(self.short)
            for key in candidates:
                q = self.quote(key)
                if q.may_match(pairs, folded):
                    m = match_quote(q.text, [Passage(pkey[0], pkey[1], text)])
                    if m.kind != "none":
                        found.setdefault(key, []).append((pkey, m))
        return found


_SCAN: tuple[QuoteIndex, list[tuple[PKey, str]]] | None = None  # set before the workers fork, so they share it


def _scan_range(span: tuple[int, int]) -> dict[QKey, Found]:
    assert _SCAN is not None
    index, passages = _SCAN
    return index.scan(passages[span[0]:span[1]])


def scan_passages(index: QuoteIndex, passages: Iterable[tuple[PKey, str]]) -> dict[QKey, Found]:
    """index.scan on every core when there are many passages; the same result, in passage order."""
    global _SCAN
    listed = list(passages)
    cores = os.cpu_count() or 1
    if len(listed) < POOL_MIN_PASSAGES or cores < 2:
        return index.scan(listed)
    step = -(-len(listed) // (4 * cores))
    _SCAN = (index, listed)
    try:
        results = _pool_map(_scan_range, [(i, i + step) for i in range(0, len(listed), step)], chunksize=1)
    finally:
        _SCAN = None
    found: dict[QKey, Found] = {}
    for result in results:  # in passage order, as one scan gives them
        for key, matched in result.items():
            found.setdefault(key, []).extend(matched)
    return found


def best_match(found: Found) -> Match:
    """The match kg.matching.match_quote picks among all passages: the first best in passage order."""
    best = Match("none")
    for _key, m in sorted(found, key=lambda f: f[0]):
        if (RANK[m.kind], m.score) > (RANK[best.kind], best.score):
            best = m
    return best


def document_passages(doc: Document) -> Iterator[tuple[PKey, str]]:
    """The passages of a non-analysis document, as :func:`kg.build.passages` makes them."""
    for q in doc.quotes:
        yield (doc.id, q.id, 0), q.text
        if q.context is not None:
            yield (doc.id, q.id, 1), q.context


# ---- what the cache keeps ----------------------------------------------------------------------


@dataclass(frozen=True)
class Deps:
    """What a part's validation read besides its own quads, so a change there re-validates it."""

    bits: int = 0  # reference subjects (one bit each, numbered in Index.bits)
    subjects: tuple[str, ...] = ()  # nodes of other records it looked up, found or not (a tuple: quick to load)


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


class Entry(NamedTuple):
    """One record file, as the index remembers it (a tuple: the index is read by every build)."""

    name: str
    stat: tuple[int, int, int]  # size, mtime_ns, inode
    digest: str
    rid: str
    kind: str  # a document type, "organizations" or "agreement"
    claims: int = 0
    quotes: int = 0
    refs: DocRefs | None = None  # documents
    analysis_quotes: tuple[tuple[QKey, str], ...] = ()  # analysis documents
    deps: Deps = Deps()
    lines: int = 0  # how many quads

    @property
    def is_reference(self) -> bool:
        return self.kind in ("organizations", "agreement")

    @property
    def has_passages(self) -> bool:
        return self.refs is not None and self.kind != "analysis"


@dataclass
class Index:
    fingerprint: str
    sources: tuple[str, str]  # the folder as given, and resolved
    dump: str
    dump_stat: tuple[int, int, int]
    build_id: str
    store_signature: str
    written_ns: int
    lines: int
    entries: dict[str, Entry]
    references: dict[str, Registry | Agreement]
    ontology: str
    bits: dict[str, int]
    matches: dict[QKey, Found]
    derived: dict[str, str]
    derived_deps: dict[str, Deps]
    aux: dict[str, str]  # name of a side file -> the token it was written with


@dataclass
class Unit:
    """A record read from its file: the model and the canonical lines of its graphs."""

    name: str
    digest: str
    stat: tuple[int, int, int]
    record: Record
    lines: str

    def entry(self, deps: Deps = Deps()) -> Entry:
        r = self.record
        kind = r.type if isinstance(r, Document) else "organizations" if isinstance(r, Registry) else "agreement"
        lines = self.lines.count("\n")
        if not isinstance(r, Document):
            return Entry(self.name, self.stat, self.digest, r.id, kind, deps=deps, lines=lines)
        quotes = tuple(((r.id, q.id), q.text) for q in r.quotes) if r.type == "analysis" else ()
        return Entry(self.name, self.stat, self.digest, r.id, kind, len(r.claims), len(r.quotes), doc_refs(r),
                     quotes, deps, lines)

    def passages(self) -> tuple[tuple[PKey, str], ...]:
        r = self.record
        return tuple(document_passages(r)) if isinstance(r, Document) and r.type != "analysis" else ()


def graphs_of(lines: str) -> set[str]:
    return {quad_terms(line)[3][1:-1] for line in lines_of(lines)}


def _stat(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns, st.st_ino


def _digest(folder: str, name: str, raw: bytes) -> str:
    h = hashlib.blake2b(f"{folder}\0{name}\0".encode(), digest_size=16)
    h.update(raw)
    return h.hexdigest()


def _read_unit(path: Path, folder: str) -> Unit | None:
    """The unit of one record file, or None if it has an error (the caller re-reads it to raise)."""
    from kg.records import read_record

    raw = path.read_bytes()
    stat = _stat(path)
    try:
        record = read_record(path, raw)
    except SourceError:
        return None
    lines = nquads(record_quads(record, file=f"{folder}/{path.name}"))
    return Unit(path.name, _digest(folder, path.name, raw), stat, record, lines)


def _pool_map(fn: Callable[..., Any], items: Sequence[Any], *, chunksize: int = 16,
              after_fork: Callable[[], None] = lambda: None) -> list[Any]:
    """map() on every core when there is enough work and fork is available, else in this process.

    after_fork runs once the workers exist (it may start threads, which must not be forked).
    """
    cores = os.cpu_count() or 1
    if len(items) < 2 or cores < 2 or "fork" not in multiprocessing.get_all_start_methods() or _threaded():
        after_fork()
        return [fn(item) for item in items]
    with multiprocessing.get_context("fork").Pool(min(cores, len(items))) as pool:
        after_fork()
        return pool.map(fn, items, chunksize=chunksize)


def _threaded() -> bool:
    """Whether this process runs other threads (say, RocksDB's), which fork() would not copy safely."""
    try:
        return len(os.listdir("/proc/self/task")) > 1  # noqa: PTH208 (a count, no Paths needed)
    except OSError:
        import threading

        return threading.active_count() > 1


def _read_units(paths: Sequence[Path], folder: str) -> list[Unit]:
    """Read record files (in parallel when there are many); the first error in path order is raised."""
    from functools import partial

    read = partial(_read_unit, folder=folder)
    read_all: list[Unit | None] = (_pool_map(read, paths, chunksize=32) if len(paths) >= POOL_MIN_RECORDS
                                   else [read(p) for p in paths])
    units: list[Unit] = []
    for path, unit in zip(paths, read_all, strict=True):
        if unit is None:
            from kg.records import read_record

            read_record(path)  # raises the error, with its line, exactly as a plain read would
            raise KgError(f"{path}: could not be read twice the same way. Run 'kg build' again")
        units.append(unit)
    return units


Read = tuple[Entry, tuple[tuple[PKey, str], ...], "Registry | Agreement | None"]


def _cache_unit(path: Path, folder: str, cache: Cache) -> Read | None:
    """Read one record into the cache; what the build keeps in memory of it (not its lines)."""
    unit = _read_unit(path, folder)
    if unit is None:
        return None
    cache.store_unit(unit)
    return unit.entry(), unit.passages(), None if isinstance(unit.record, Document) else unit.record


def _read_into_cache(paths: Sequence[Path], folder: str, cache: Cache) -> list[Read]:
    """Read record files into the cache (in parallel when there are many); the first error is raised."""
    from functools import partial

    read = partial(_cache_unit, folder=folder, cache=cache)
    cache.units.mkdir(parents=True, exist_ok=True)
    if len(paths) >= POOL_MIN_RECORDS:
        from kg.records import prepare_checks

        prepare_checks()  # once here, not once in every worker after the fork
    results: list[Read | None] = (_pool_map(read, paths, chunksize=32) if len(paths) >= POOL_MIN_RECORDS
                                  else [read(p) for p in paths])
    out: list[Read] = []
    for path, result in zip(paths, results, strict=True):
        if result is None:
            from kg.records import read_record

            read_record(path)  # raises the error, with its line, exactly as a plain read would
            raise KgError(f"{path}: could not be read twice the same way. Run 'kg build' again")
        out.append(result)
    return out


def record_names(directory: Path) -> list[str]:
    """The file names :func:`kg.records.record_paths` gives, in its order, without making Paths."""
    with os.scandir(directory) as entries:
        return sorted(e.name for e in entries if e.name.endswith(".yaml") and e.is_file())


def fingerprint(shapes: Path) -> str:
    """Hash of everything besides the records that the built dataset depends on."""
    h = hashlib.blake2b(f"{CACHE_FORMAT}\0{sys.version}\0".encode(), digest_size=16)
    package = Path(__file__).resolve().parent
    for path in [*(package / f"{m}.py" for m in BUILD_MODULES), *sorted((package / "schema").glob("*.json")),
                 ONTOLOGY_DIR / "kg.ttl", shapes]:
        h.update(path.name.encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


class Cache:
    """The files beside the store: units/<digest>.nq and .pickle, index.pickle, and side files.

    The side files (every passage; the quote index) are read only by builds that need them, and
    rewritten only when they change; the index names the token each was written with.
    """

    def __init__(self, store_path: Path) -> None:
        self.dir = store_path.with_name(store_path.name + ".cache")
        self.units = self.dir / "units"

    def load_index(self) -> Index | None:
        try:
            with (self.dir / "index.pickle").open("rb") as f:
                index = pickle.load(f)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
            return None
        return index if isinstance(index, Index) else None

    def lines_path(self, digest: str) -> Path:
        return self.units / f"{digest}.nq"

    def load_lines(self, digest: str) -> str:
        """A record's canonical lines (bytes decoded as they are: no newline translation)."""
        return self.lines_path(digest).read_bytes().decode("utf-8")

    def load_record(self, digest: str) -> Record:
        with (self.units / f"{digest}.pickle").open("rb") as f:
            record: Record = pickle.load(f)
        return record

    def store_unit(self, unit: Unit) -> None:
        """The record's model and its lines, each in a file named by the hash of its content."""
        model = self.units / f"{unit.digest}.pickle"
        if not model.exists():
            self._write(self.lines_path(unit.digest), unit.lines.encode("utf-8"))
            self._write(model, pickle.dumps(unit.record, protocol=pickle.HIGHEST_PROTOCOL))  # last: it vouches

    def load_side(self, name: str, token: str | None) -> Any:
        """A side file's content, or None when it is missing or not the one the index names."""
        try:
            with (self.dir / f"{name}.pickle").open("rb") as f:
                written, content = pickle.load(f)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
            return None
        return content if token is not None and written == token else None

    def save_side(self, index: Index, name: str, content: Any) -> None:
        token = os.urandom(8).hex()
        self._write(self.dir / f"{name}.pickle", pickle.dumps((token, content), protocol=pickle.HIGHEST_PROTOCOL))
        index.aux[name] = token

    def save(self, index: Index, units: Iterable[Unit]) -> None:
        """Write the new units, then the index (last: it is what vouches for the rest)."""
        for u in units:
            self.store_unit(u)
        index.written_ns = time.time_ns()
        self._write(self.dir / "index.pickle", pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL))

    def collect(self, index: Index) -> None:
        """Delete the unit files no entry names any more."""
        keep = {e.digest for e in index.entries.values()}
        for path in self.units.iterdir():
            if path.name.split(".", 1)[0] not in keep:
                path.unlink(missing_ok=True)

    def drop(self) -> None:
        (self.dir / "index.pickle").unlink(missing_ok=True)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
        tmp.write_bytes(data)
        tmp.replace(path)


# ---- validation per part -------------------------------------------------------------------------

_RECORD_KINDS = ("source", "quote", "anchor", "page", "section")
_ID = f"<{ID}"


def lines_of(text: str) -> list[str]:
    """The lines of N-Quads text, each with its newline; only "\\n" ends a line (unlike str.splitlines,
    which also splits at U+2028, U+0085 and other characters a literal may hold)."""
    lines = [line + "\n" for line in text.split("\n")]
    if lines[-1] == "\n":
        lines.pop()
    else:
        lines[-1] = lines[-1][:-1]
    return lines


# A line's subject, and its object when that is an IRI, found by the regex engine rather than line by
# line in Python. Each pattern starts with "\n" (the text is searched with one put in front): the engine
# then jumps from newline to newline, where "^" with MULTILINE would make it try every position.
_TERMS = re.compile(r"\n(\S+) \S+ (<[^>]*>)?")
_LINE = r"\n((\S+) \S+ (<[^>]*>)?[^\n]*{graph} \.)(?=\n)"


class _Node(NamedTuple):
    lines: list[str]
    objects: list[str]  # the IRIs these lines point to


def _by_subject(lines: str, graph: str | None = None) -> dict[str, _Node]:
    """The lines (of one graph, if given) by subject, with the IRIs each subject's lines point to."""
    out: dict[str, _Node] = {}
    pattern = re.compile(_LINE.format(graph=" " + re.escape(graph) if graph else ""))
    for match in pattern.finditer("\n" + lines):
        line, subject, obj = match.group(1, 2, 3)
        node = out.get(subject)
        if node is None:
            node = out[subject] = _Node([], [])
        node.lines.append(line + "\n")
        if obj is not None:
            node.objects.append(obj)
    return out


class Closure:
    """What a part's nodes point to, for validating the part on its own.

    Args:
        references: the lines of the reference graphs (organizations, agreements, ontology).
        bits: reference subject -> bit, extended as new subjects appear.
        record_lines: the lines of a record by id (its record graph is what is read), or None.
    """

    def __init__(self, references: str, bits: dict[str, int],
                 record_lines: Callable[[str], str | None]) -> None:
        self.references = _by_subject(references)
        self.bits = bits
        for subject in sorted(self.references):
            bits.setdefault(subject, len(bits))
        self._record_lines = record_lines
        self._records: dict[str, dict[str, _Node]] = {}

    def _record(self, rid: str) -> dict[str, _Node]:
        if rid not in self._records:
            if len(self._records) >= 512:  # a batch reads few records: keep memory flat, not corpus-sized
                self._records.clear()
            self._records[rid] = _by_subject(self._record_lines(rid) or "", f"<{ID}graph/record/{rid}>")
        return self._records[rid]

    def of(self, own: str, rid: str | None) -> tuple[list[str], Deps]:
        """The lines own's nodes reach outside own (forward, transitively), and where they came from."""
        extra: list[str] = []
        bits = 0
        subjects: set[str] = set()
        seen = {term for pair in _TERMS.findall("\n" + own) for term in pair if term[:1] == "<"}
        todo = list(seen)
        while todo:
            node = todo.pop()
            found = self.references.get(node)
            if found is not None:
                bits |= 1 << self.bits[node]
            elif node.startswith(_ID):
                kind, _, rest = node[len(_ID):-1].partition("/")
                other = rest.split("/", 1)[0]
                if kind not in _RECORD_KINDS or other == rid or not other:
                    continue
                found = self._record(other).get(node)
                subjects.add(node)
            if found is not None:
                extra.extend(found.lines)
                for o in found.objects:
                    if o not in seen:
                        seen.add(o)
                        todo.append(o)
        return extra, Deps(bits, tuple(sorted(subjects)))


@dataclass
class _Part:
    """What to validate: its own lines given, or read from the cache by digest when validated."""

    key: str
    rid: str | None
    text: str | None = None
    digest: str | None = None
    lines: int = 0


@dataclass
class _Validation:
    """What every batch needs: set before the workers fork, so that they share it."""

    closure: Closure
    cache: Cache | None
    shapes: Path

    def own(self, part: _Part) -> str:
        if part.text is not None:
            return part.text
        assert self.cache is not None and part.digest is not None
        return self.cache.load_lines(part.digest)


_VALIDATION: _Validation | None = None


def local_shapes(shapes: Path) -> bool:
    """Whether validating each part with what it points to gives the whole dataset's result.

    True when every shape targets nodes by class and follows paths forward only (SPARQL
    constraints are assumed to, as ours do); otherwise the build validates the whole dataset.
    """
    from kg.validate import compiled_shapes

    compiled = compiled_shapes(shapes)
    if compiled is not None:
        return compiled.local
    from rdflib import Graph
    from rdflib.namespace import SH

    graph = Graph().parse(shapes, format="turtle")
    global_terms = (SH.inversePath, SH.targetNode, SH.targetSubjectsOf, SH.targetObjectsOf, SH.target)
    return not any(True for t in global_terms for _ in graph.triples((None, t, None)))


def __getattr__(name: str) -> Any:
    """PreparedSPARQLProcessor is made on first use: it subclasses rdflib's SPARQL processor (a heavy import)."""
    if name == "PreparedSPARQLProcessor":
        from rdflib.plugins.sparql.algebra import translateQuery
        from rdflib.plugins.sparql.evaluate import evalQuery
        from rdflib.plugins.sparql.parser import parseQuery
        from rdflib.plugins.sparql.processor import SPARQLProcessor

        class PreparedSPARQLProcessor(SPARQLProcessor):
            """rdflib's SPARQL processor, keeping each query it translated (rdflib's prepared queries)."""

            prepared: dict[Any, Any] = {}  # noqa: RUF012 (one cache per process, on purpose)

            def query(  # type: ignore[override]  # rdflib's own SPARQLProcessor.query has this signature
                self, sparql: Any, initBindings: Any = None, initNs: Any = None,  # noqa: N803
                base: Any = None, DEBUG: bool = False,  # noqa: N803
            ) -> Any:
                if isinstance(sparql, str):
                    key = (sparql, base, tuple(sorted((k, str(v)) for k, v in (initNs or {}).items())))
                    if key not in self.prepared:
                        self.prepared[key] = translateQuery(parseQuery(sparql), base, initNs)
                    sparql = self.prepared[key]
                return evalQuery(self.graph, sparql, initBindings, base)

        globals()[name] = PreparedSPARQLProcessor
        return PreparedSPARQLProcessor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@contextlib.contextmanager
def prepared_sparql() -> Iterator[None]:
    """While inside, rdflib parses each SPARQL text once in this process.

    pySHACL evaluates a SPARQL constraint once per focus node and hands rdflib the same query text
    every time; rdflib parses and translates it again each time (about 10 ms for our shapes'
    queries), three quarters of the time of validating. This swaps rdflib's "sparql" processor
    plugin for one that keeps the translated query (what rdflib's prepareQuery does) and swaps it
    back afterwards. What is checked, and the result, are unchanged.
    """
    from rdflib import plugin
    from rdflib.query import Processor

    original = plugin.get("sparql", Processor)
    plugin.register("sparql", Processor, __name__, "PreparedSPARQLProcessor")
    try:
        yield
    finally:
        plugin.register("sparql", Processor, original.__module__, original.__name__)


def _validate_batch(parts: list[_Part]) -> tuple[list[tuple[str | None, ...]], dict[str, Deps]]:
    """Validate parts together with what they point to; the violations of their own nodes."""
    from kg.validate import compiled_shapes, validate

    assert _VALIDATION is not None
    own: list[str] = []
    extra: dict[str, None] = {}
    deps: dict[str, Deps] = {}
    for part in parts:
        text = _VALIDATION.own(part)
        lines, deps[part.key] = _VALIDATION.closure.of(text, part.rid)
        own.append(text)
        extra.update(dict.fromkeys(lines))
    text = "".join(own)
    owned = set(lines_of(text))
    subjects = {li.split(" ", 1)[0][1:-1] for li in owned}
    # pySHACL (shapes kg.shacl does not compile) parses each SPARQL constraint once with this
    parsing = prepared_sparql() if compiled_shapes(_VALIDATION.shapes) is None else contextlib.nullcontext()
    with parsing:
        report = validate(text + "".join(li for li in extra if li not in owned), shapes=_VALIDATION.shapes)
    return [tuple(row) for row in report.violations.values if row[1] in subjects], deps


def validate_parts(parts: Sequence[_Part], closure: Closure, shapes: Path, *, cache: Cache | None = None,
                   progress: Progress, meanwhile: Callable[[], None] = lambda: None) -> tuple[Rows, dict[str, Deps]]:
    """Validate parts in batches (on every core when there are many); the violations, sorted, each once.

    meanwhile starts work to run beside validation (once any worker processes exist).
    """
    global _VALIDATION
    total = sum(p.lines for p in parts)
    cores = os.cpu_count() or 1
    size = max(BATCH_MIN_LINES, min(BATCH_LINES, total // (2 * cores) + 1))  # keep every core busy
    batches: list[list[_Part]] = [[]]
    count = 0
    for part in parts:
        if count >= size:
            batches.append([])
            count = 0
        batches[-1].append(part)
        count += part.lines
    batches = [b for b in batches if b]
    progress(f"validating {len(parts)} parts in {len(batches)} batches with SHACL")
    _VALIDATION = _Validation(closure, cache, shapes)
    try:
        if total >= POOL_MIN_LINES:
            results = _pool_map(_validate_batch, batches, chunksize=1, after_fork=meanwhile)
        else:
            meanwhile()
            results = [_validate_batch(b) for b in batches]
    finally:
        _VALIDATION = None
    rows = sorted({row for found, _deps in results for row in found})
    deps = {key: d for _found, batch in results for key, d in batch.items()}
    return Rows(["file", "focus", "path", "message"], [list(r) for r in rows]), deps


# ---- the derived graph ------------------------------------------------------------------------------


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


def match_part(key: QKey, match: Match) -> str:
    return nquads(match_quads([QuoteMatch(key[0], key[1], match)]))


def part_key(key: QKey) -> str:
    return f"match {key[0]} {key[1]}"


# ---- the dump ------------------------------------------------------------------------------------


def splice(old: Path, new: Path, *, remove: Sequence[str], add: Sequence[str]) -> None:
    """Write new: the sorted lines of old, less remove, plus add (each sorted; no line in both).

    The unchanged runs between edits are copied by the kernel (copy_file_range) where it can.

    Raises:
        KgError: a line to remove is missing, or a line to add is already there.
    """
    edits = sorted([(li.encode("utf-8"), False) for li in remove] + [(li.encode("utf-8"), True) for li in add])
    with old.open("rb") as src, new.open("wb", buffering=0) as out:
        size = os.fstat(src.fileno()).st_size
        mm: Any = mmap.mmap(src.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        try:
            done = 0
            for line, adding in edits:
                at = _lower_bound(mm, line, done, size)
                _copy(src.fileno(), out, mm, done, at)
                present = mm[at:at + len(line)] == line
                if adding:
                    if present:
                        raise KgError(f"{old}: the dump already has {line.decode()!r}")
                    _write_all(out, line)
                    done = at
                else:
                    if not present:
                        raise KgError(f"{old}: the dump lacks {line.decode()!r}")
                    done = at + len(line)
            _copy(src.fileno(), out, mm, done, size)
        finally:
            if size:
                mm.close()


def merge(out: Path, files: Sequence[Path], texts: Sequence[str]) -> None:
    """Write out: the sorted merge of sorted line files and texts (no line in two of them).

    Streams: one line of each source is in memory at a time. With more files than this process
    may open at once, groups of them are merged into runs first.
    """
    import resource

    limit = max(16, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 64)
    runs, temps = list(files), list[Path]()
    try:
        while len(runs) > limit:
            merged = []
            for i in range(0, len(runs), limit):
                temps.append(out.with_name(f"{out.name}.run-{len(temps)}"))
                _merge_into(temps[-1], runs[i:i + limit], ())
                merged.append(temps[-1])
            runs = merged
        _merge_into(out, runs, texts)
    finally:
        for path in temps:
            path.unlink(missing_ok=True)


def _merge_into(out: Path, files: Sequence[Path], texts: Sequence[str]) -> None:
    import heapq

    with contextlib.ExitStack() as stack:
        sources: list[Iterable[bytes]] = [stack.enter_context(f.open("rb")) for f in files]  # lines end at b"\n"
        sources += [[li.encode("utf-8") for li in lines_of(t)] for t in texts]
        with out.open("wb") as w:
            w.writelines(heapq.merge(*sources))


def _copy(src: int, out: Any, mm: Any, start: int, end: int) -> None:
    """Bytes [start, end) of the source to out, in the kernel when it can, else through memory."""
    while start < end:
        try:
            n = os.copy_file_range(src, out.fileno(), end - start, start)
        except (AttributeError, OSError):  # not Linux, or a file system that cannot
            n = 0
        if n <= 0:
            with memoryview(mm) as view:
                _write_all(out, view[start:end])
            return
        start += n


def _write_all(out: Any, data: Any) -> None:
    view = memoryview(data)
    while len(view):
        view = view[out.write(view):]


def _lower_bound(mm: Any, key: bytes, lo: int, hi: int) -> int:
    """The first line start in [lo, hi] whose line is not less than key (lo and hi are line starts)."""
    while lo < hi:
        mid = (lo + hi) // 2
        nl = mm.rfind(b"\n", lo, mid)
        start = lo if nl < 0 else nl + 1  # the start of the line holding mid
        end = mm.find(b"\n", start, hi) + 1
        if mm[start:end] < key:
            lo = end
        else:
            hi = start
    return lo


def _dump_stat(path: Path) -> tuple[int, int, int]:
    try:
        return _stat(path)
    except OSError:
        return (-1, -1, -1)


# ---- cross-record references on summaries -----------------------------------------------------------


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


# ---- the builds ------------------------------------------------------------------------------------


def run(sources_dir: Path, *, store_path: Path, dump_path: Path, shapes: Path | None = None,
        full: bool = False, progress: Progress = lambda _m: None) -> Summary:
    """kg build: incremental when the cache vouches for the store and the dump, full otherwise."""
    from dataclasses import replace

    from kg.store import build_lock

    started = time.perf_counter()
    shapes = shapes or default_shapes()
    with build_lock(store_path):
        cache = Cache(store_path)
        summary = None if full else _incremental(sources_dir, store_path, dump_path, shapes, cache, progress)
        if summary is None:
            summary = _full(sources_dir, store_path, dump_path, shapes, cache, progress)
    return replace(summary, seconds=time.perf_counter() - started)


def _new_build_id() -> str:
    return f"{time.time_ns():x}-{os.urandom(6).hex()}"


def _summary(entries: Iterable[Entry], lines: int) -> Summary:
    docs = [e for e in entries if e.refs is not None]
    return Summary(sources=len(docs), claims=sum(e.claims for e in docs), quotes=sum(e.quotes for e in docs),
                   triples=lines, seconds=0.0)


def _full(sources_dir: Path, store_path: Path, dump_path: Path, shapes: Path, cache: Cache,
          progress: Progress) -> Summary:
    """Everything from the records; memory holds their summaries, not their quads (the cache does)."""
    from kg.records import check_corpus, record_paths
    from kg.store import StagedStore, store_signature

    paths = record_paths(sources_dir)
    if not paths:
        raise SourceError(sources_dir, "no *.yaml records found. Add source records (see README 'Source records')")
    progress(f"reading {sources_dir}")
    read = _read_into_cache(paths, sources_dir.name, cache)
    entries = {e.name: e for e, _p, _r in read}
    references: list[Registry | Agreement] = [r for _e, _p, r in read if r is not None]
    if not references_ok(references, [(e.rid, e.refs) for e in entries.values() if e.refs is not None]):
        check_corpus([cache.load_record(e.digest) for e in entries.values()])  # raises the error it finds
    progress(f"matching the quotes of {sum(e.refs is not None for e in entries.values())} documents")
    quotes = [q for e in entries.values() for q in e.analysis_quotes]
    passages = {e.rid: ps for e, ps, _r in read if ps}
    del read
    quote_index = QuoteIndex(quotes)
    found = scan_passages(quote_index, (p for ps in passages.values() for p in ps))
    matches = {key: found.get(key, []) for key, _text in quotes}
    derived = {part_key(k): match_part(k, best_match(f)) for k, f in matches.items()}
    derived["timeline"] = timeline_lines(references, (e.refs for e in entries.values() if e.refs is not None))
    ontology = nquads(ontology_quads((ONTOLOGY_DIR / "kg.ttl").read_text(encoding="utf-8")))
    progress(f"merging {dump_path}")
    tmp = dump_path.with_name(dump_path.name + f".tmp-{os.getpid()}")
    dump_path.parent.mkdir(parents=True, exist_ok=True)
    build_id = _new_build_id()
    staged = StagedStore(store_path, tmp, build_id=build_id)
    try:
        merge(tmp, [cache.lines_path(e.digest) for e in entries.values()], [*derived.values(), ontology])
        lines = sum(e.lines for e in entries.values()) + sum(t.count("\n") for t in (*derived.values(), ontology))
        bits: dict[str, int] = {}
        local = local_shapes(shapes)
        if local:
            by_rid = {e.rid: e for e in entries.values()}
            ref_lines = "".join(cache.load_lines(e.digest) for e in entries.values() if e.is_reference) + ontology

            def record_lines(rid: str) -> str | None:
                return cache.load_lines(by_rid[rid].digest) if rid in by_rid else None

            parts = [_Part(e.name, e.rid, digest=e.digest, lines=e.lines) for e in entries.values()
                     if not e.is_reference]
            parts.append(_Part("references", None, ref_lines, lines=ref_lines.count("\n")))
            parts += [_Part(key, None, text, lines=text.count("\n")) for key, text in derived.items() if text]
            # the store loads from the dump while the parts are validated; it replaces the old one only if valid
            violations, deps = validate_parts(parts, Closure(ref_lines, bits, record_lines), shapes, cache=cache,
                                              progress=progress, meanwhile=staged.start)
        else:
            from kg.validate import validate

            progress("validating with SHACL")
            report = validate(tmp.read_bytes().decode("utf-8"), shapes=shapes)
            violations, deps = (Rows(report.violations.columns, []) if report.conforms else report.violations), {}
        if violations.values:
            raise NonConformantError(violations)
        progress(f"writing {store_path}")
        staged.commit()
        tmp.replace(dump_path)
    finally:
        staged.discard()
        tmp.unlink(missing_ok=True)
    entries = {name: e._replace(deps=deps.get(name, Deps())) for name, e in entries.items()}
    if not local:
        cache.drop()  # no index, so every build is a full one: only local shapes can be checked per part
        return _summary(entries.values(), lines)
    index = Index(
        fingerprint=fingerprint(shapes), sources=(str(sources_dir), str(sources_dir.resolve())),
        dump=str(dump_path.resolve()), dump_stat=_dump_stat(dump_path), build_id=build_id,
        store_signature=store_signature(store_path), written_ns=0, lines=lines, entries=entries,
        references={r.id: r for r in references}, ontology=ontology, bits=bits, matches=matches, derived=derived,
        derived_deps={k: d for k, d in deps.items() if k in derived}, aux={},
    )
    cache.save_side(index, "passages", passages)
    cache.save_side(index, "quotes", quote_index)
    cache.save(index, ())
    cache.collect(index)
    return _summary(entries.values(), lines)


def _incremental(sources_dir: Path, store_path: Path, dump_path: Path, shapes: Path, cache: Cache,
                 progress: Progress) -> Summary | None:
    """The build from the cache, or None when the cache cannot vouch for the store and the dump."""
    from kg.records import check_corpus
    from kg.store import store_build_id, store_signature, update_store

    index = cache.load_index()
    if (index is None or index.fingerprint != fingerprint(shapes)
            or index.sources != (str(sources_dir), str(sources_dir.resolve()))
            or index.dump != str(dump_path.resolve()) or index.dump_stat != _dump_stat(dump_path)
            or store_build_id(store_path) != index.build_id or not sources_dir.is_dir()):
        return None
    names = record_names(sources_dir)
    if not names:
        return None  # the full build says what is wrong
    folder = sources_dir.name
    trusted_before = index.written_ns - RACY_NS
    unchanged: dict[str, Entry] = {}
    to_read: list[Path] = []
    restat = False
    for name in names:
        path = sources_dir / name
        entry = index.entries.get(name)
        stat = _stat(path)
        if entry is not None and stat == entry.stat and stat[1] < trusted_before:
            unchanged[name] = entry
        elif entry is not None and _digest(folder, name, path.read_bytes()) == entry.digest:
            unchanged[name] = index.entries[name] = entry._replace(stat=stat)  # touched, not changed
            restat = True
        else:
            to_read.append(path)
    deleted = [e for name, e in index.entries.items() if name not in unchanged and name not in
               {p.name for p in to_read}]
    if not to_read and not deleted:
        if restat:
            cache.save(index, ())
        progress("nothing changed")
        return _summary(index.entries.values(), index.lines)
    progress(f"re-reading {len(to_read)} changed or new records ({len(deleted)} deleted)")
    new_units = {u.name: u for u in _read_units(to_read, folder)}
    gone = [index.entries[name] for name in new_units if name in index.entries] + deleted
    fresh = {name: u.entry() for name, u in new_units.items()}
    entries = {name: fresh.get(name) or unchanged[name] for name in names}
    by_rid = {e.rid: e for e in entries.values()}
    unit_of = {u.record.id: u for u in new_units.values()}
    old_lines = {e.rid: cache.load_lines(e.digest) for e in gone}

    def model(e: Entry) -> Record:
        return unit_of[e.rid].record if e.rid in unit_of else (index.references.get(e.rid)
                                                                or cache.load_record(e.digest))

    def unit_lines(rid: str) -> str | None:
        if rid in unit_of:
            return unit_of[rid].lines
        e = by_rid.get(rid)
        return cache.load_lines(e.digest) if e is not None else None

    references = [model(e) for e in entries.values() if e.is_reference]
    refs = [e.refs for e in entries.values() if e.refs is not None]
    if not references_ok(references, [(e.rid, e.refs) for e in entries.values() if e.refs is not None]):
        check_corpus([model(e) for e in entries.values()])  # raises the error a full build gives
    changed = {e.rid for e in gone} | set(unit_of)

    # The derived graph: the matches of changed passages and changed quotes, and the timeline.
    matches = index.matches
    touched: set[QKey] = set()
    for key in [k for k in matches if k[0] in changed]:
        del matches[key]
    for key, found in matches.items():
        if any(pkey[0] in changed for pkey, _m in found):
            matches[key] = [f for f in found if f[0][0] not in changed]
            touched.add(key)
    new_passages = [p for u in new_units.values() for p in u.passages()]
    new_quotes = [q for e in fresh.values() for q in e.analysis_quotes]
    old_quotes = [k for e in gone for k, _t in e.analysis_quotes]
    quote_index: QuoteIndex | None = None
    if new_passages or new_quotes or old_quotes:
        quote_index = cache.load_side("quotes", index.aux.get("quotes"))
        if quote_index is None:
            return None
        quote_index.remove(old_quotes)
        for key, found in quote_index.scan(new_passages).items():
            matches[key].extend(found)
            touched.add(key)
        quote_index.add(new_quotes)
    passages: dict[str, tuple[tuple[PKey, str], ...]] | None = None
    if new_quotes or any(e.has_passages for e in gone) or new_passages:
        passages = cache.load_side("passages", index.aux.get("passages"))
        if passages is None:
            return None
        for rid in changed:
            passages.pop(rid, None)
        passages.update({u.record.id: u.passages() for u in new_units.values() if u.passages()})
    if new_quotes:
        assert passages is not None
        found_new = scan_passages(QuoteIndex(new_quotes), (p for ps in passages.values() for p in ps))
        matches.update({key: found_new.get(key, []) for key, _t in new_quotes})
        touched.update(k for k, _t in new_quotes)
    derived = index.derived
    changed_parts: dict[str, str] = {}  # part key -> its old lines
    for key in set(old_quotes) - set(matches):
        changed_parts[part_key(key)] = derived.pop(part_key(key), "")
    for key in touched:
        text = match_part(key, best_match(matches[key]))
        if text != derived.get(part_key(key), ""):
            changed_parts.setdefault(part_key(key), derived.get(part_key(key), ""))
            derived[part_key(key)] = text
    timeline = timeline_lines(references, refs)
    if timeline != derived.get("timeline", ""):
        changed_parts["timeline"] = derived.get("timeline", "")
        derived["timeline"] = timeline

    # Validation of what changed, and of what read what changed.
    ref_lines = "".join(unit_lines(e.rid) or "" for e in entries.values() if e.is_reference) + index.ontology
    closure = Closure(ref_lines, index.bits, unit_lines)
    dirty = 0  # reference subjects whose description changed
    if any(e.is_reference for e in gone) or any(e.is_reference for e in fresh.values()):
        before = _by_subject("".join(old_lines[e.rid] for e in gone if e.is_reference))
        after = _by_subject("".join(u.lines for u in new_units.values() if not isinstance(u.record, Document)))
        for subject in before.keys() | after.keys():
            if before.get(subject) != after.get(subject):
                dirty |= 1 << index.bits.setdefault(subject, len(index.bits))
    dirty_subjects: set[str] = set()  # nodes whose description in a record graph changed
    for rid in {e.rid for e in gone if not e.is_reference} | {e.rid for e in fresh.values() if not e.is_reference}:
        graph = f" <{ID}graph/record/{rid}> .\n"
        before = _by_subject("".join(li for li in lines_of(old_lines.get(rid, "")) if li.endswith(graph)))
        after = _by_subject("".join(li for li in lines_of(unit_lines(rid) or "") if li.endswith(graph)))
        dirty_subjects.update(s for s in before.keys() | after.keys() if before.get(s) != after.get(s))
    parts: list[_Part] = []
    for e in entries.values():
        if e.refs is None:
            continue
        if e.name in fresh:
            parts.append(_Part(e.name, e.rid, new_units[e.name].lines, lines=e.lines))
        elif e.deps.bits & dirty or not dirty_subjects.isdisjoint(e.deps.subjects):
            parts.append(_Part(e.name, e.rid, digest=e.digest, lines=e.lines))
    if dirty:
        parts.append(_Part("references", None, ref_lines, lines=ref_lines.count("\n")))
    for part, text in derived.items():
        read = index.derived_deps.get(part, Deps())
        if text and (part in changed_parts or read.bits & dirty or not dirty_subjects.isdisjoint(read.subjects)):
            parts.append(_Part(part, None, text, lines=text.count("\n")))
    violations, new_deps = validate_parts(parts, closure, shapes, cache=cache, progress=progress)
    if violations.values:
        raise NonConformantError(violations)

    # The dump and the store, by difference.
    removed = set(chain_lines(old_lines.values()))
    removed.update(chain_lines(changed_parts.values()))
    added = set(chain_lines(u.lines for u in new_units.values()))
    added.update(chain_lines(derived.get(key, "") for key in changed_parts))
    removed, added = removed - added, added - removed
    progress(f"writing {store_path}: -{len(removed)} +{len(added)} quads")
    build_id = _new_build_id()
    tmp = dump_path.with_name(dump_path.name + f".tmp-{os.getpid()}")
    try:
        splice(dump_path, tmp, remove=sorted(removed), add=sorted(added))
        keep = set().union(*(graphs_of(u.lines) for u in new_units.values()))
        drop = set().union(*(graphs_of(text) for text in old_lines.values())) - keep
        if not any(derived.values()):
            drop.add(str(DERIVED))
        # Graphs only another writer (kg audit) can have added: looked for only if one wrote since.
        prefixes = None if store_signature(store_path) == index.store_signature else \
            [f"{ID}graph/record/", f"{ID}claim/", f"{ID}np/", str(ONTOLOGY), str(DERIVED)]
        update_store(store_path, remove="".join(sorted(removed)), add="".join(sorted(added)),
                     drop_graphs=sorted(drop), keep_prefixes=prefixes, build_id=build_id)
        tmp.replace(dump_path)
    finally:
        tmp.unlink(missing_ok=True)
    for part, read in new_deps.items():
        if part in entries:
            entries[part] = entries[part]._replace(deps=read)
        elif part in derived:
            index.derived_deps[part] = read
    for part in set(index.derived_deps) - set(derived):
        del index.derived_deps[part]
    index.entries, index.matches, index.derived = entries, matches, derived
    index.references = {r.id: r for r in references if not isinstance(r, Document)}
    index.lines += len(added) - len(removed)
    index.build_id, index.dump_stat = build_id, _dump_stat(dump_path)
    index.store_signature = store_signature(store_path)
    if quote_index is not None and (new_quotes or old_quotes):
        cache.save_side(index, "quotes", quote_index)
    if passages is not None:
        cache.save_side(index, "passages", passages)
    cache.save(index, new_units.values())
    for e in gone:
        if e.name not in entries or entries[e.name].digest != e.digest:
            (cache.units / f"{e.digest}.pickle").unlink(missing_ok=True)
            cache.lines_path(e.digest).unlink(missing_ok=True)
    return _summary(entries.values(), index.lines)


def chain_lines(texts: Iterable[str]) -> Iterator[str]:
    for text in texts:
        yield from lines_of(text)
