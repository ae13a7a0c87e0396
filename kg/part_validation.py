"""Validation per part: a part's quads and what its nodes point to, checked by the shapes in batches."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from kg.build_cache import Cache, Deps
from kg.dump_file import lines_of
from kg.model import Rows
from kg.parallel import pool_map
from kg.pipeline import Progress
from kg.vocab import ID

POOL_MIN_LINES = 20_000  # below this, one process beats starting workers to validate
BATCH_LINES = 5_000  # at most about this many lines per batch: small enough to spread over the cores
BATCH_MIN_LINES = 2_000  # at least this many, unless there are fewer

_RECORD_KINDS = ("source", "quote", "anchor", "page", "section")
_ID = f"<{ID}"


# A line's subject, and its object when that is an IRI, found by the regex engine rather than line by
# line in Python. Each pattern starts with "\n" (the text is searched with one put in front): the engine
# then jumps from newline to newline, where "^" with MULTILINE would make it try every position.
_TERMS = re.compile(r"\n(\S+) \S+ (<[^>]*>)?")
_LINE = re.compile(r"\n((\S+) \S+ (<[^>]*>)?[^\n]*)(?=\n)")


class _Node(NamedTuple):
    lines: list[str]
    objects: list[str]  # the IRIs these lines point to


def by_subject(lines: str, graph: str | None = None) -> dict[str, _Node]:
    """The lines (of one graph, if given) by subject, with the IRIs each subject's lines point to."""
    out: dict[str, _Node] = {}
    tail = f" {graph} ." if graph else " ."
    for match in _LINE.finditer("\n" + lines):
        line, subject, obj = match.group(1, 2, 3)
        if not line.endswith(tail):
            continue
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
        self.references = by_subject(references)
        self.bits = bits
        for subject in sorted(self.references):
            bits.setdefault(subject, len(bits))
        self._record_lines = record_lines
        self._records: dict[str, dict[str, _Node]] = {}

    def _record(self, rid: str) -> dict[str, _Node]:
        if rid not in self._records:
            if len(self._records) >= 512:  # a batch reads few records: keep memory flat, not corpus-sized
                self._records.clear()
            self._records[rid] = by_subject(self._record_lines(rid) or "", f"<{ID}graph/record/{rid}>")
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
            found = []
            in_references = self.references.get(node)
            if in_references is not None:
                bits |= 1 << self.bits[node]
                found.append(in_references)
            if node.startswith(_ID):  # a record's node: its record graph says what it is, whatever else does
                kind, _, rest = node[len(_ID):-1].partition("/")
                other = rest.split("/", 1)[0]
                if kind in _RECORD_KINDS and other != rid and other:
                    in_record = self._record(other).get(node)
                    subjects.add(node)
                    if in_record is not None:
                        found.append(in_record)
            for lines in found:
                extra.extend(lines.lines)
                for o in lines.objects:
                    if o not in seen:
                        seen.add(o)
                        todo.append(o)
        return extra, Deps(bits, tuple(sorted(subjects)))


@dataclass
class Part:
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
    whole: bool = False  # one batch holds every part of the dataset, and so all that they point to

    def own(self, part: Part) -> str:
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


def _validate_batch(parts: list[Part]) -> tuple[list[tuple[str | None, ...]], dict[str, Deps]]:
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
        if not _VALIDATION.whole:
            extra.update(dict.fromkeys(lines))
    text = "".join(own)
    # pySHACL (shapes kg.shacl does not compile) parses each SPARQL constraint once with this
    parsing = prepared_sparql() if compiled_shapes(_VALIDATION.shapes) is None else contextlib.nullcontext()
    if _VALIDATION.whole:
        with parsing:
            report = validate(text, shapes=_VALIDATION.shapes)
        return [tuple(row) for row in report.violations.values], deps
    owned = set(lines_of(text))
    subjects = {li.split(" ", 1)[0][1:-1] for li in owned}
    with parsing:
        report = validate(text + "".join(li for li in extra if li not in owned), shapes=_VALIDATION.shapes)
    return [tuple(row) for row in report.violations.values if row[1] in subjects], deps


def validate_parts(parts: Sequence[Part], closure: Closure, shapes: Path, *, cache: Cache | None = None,
                   progress: Progress, meanwhile: Callable[[], None] = lambda: None,
                   complete: bool = False) -> tuple[Rows, dict[str, Deps]]:
    """Validate parts in batches (on every core when there are many); the violations, sorted, each once.

    meanwhile starts work to run beside validation (once any worker processes exist). complete says
    that parts are the whole dataset, not the changed parts of one.
    """
    global _VALIDATION
    total = sum(p.lines for p in parts)
    cores = os.cpu_count() or 1
    pooled = total >= POOL_MIN_LINES
    # batches keep every core busy; in one process, one batch reads each node's closure only once
    size = max(BATCH_MIN_LINES, min(BATCH_LINES, total // (2 * cores) + 1)) if pooled else max(total, 1)
    batches: list[list[Part]] = [[]]
    count = 0
    for part in parts:
        if count >= size:
            batches.append([])
            count = 0
        batches[-1].append(part)
        count += part.lines
    batches = [b for b in batches if b]
    progress(f"validating {len(parts)} parts in {len(batches)} batches with SHACL")
    _VALIDATION = _Validation(closure, cache, shapes, whole=complete and len(batches) == 1)
    try:
        if pooled:
            results = pool_map(_validate_batch, batches, chunksize=1, after_fork=meanwhile)
        else:
            meanwhile()
            results = [_validate_batch(b) for b in batches]
    finally:
        _VALIDATION = None
    rows = sorted({row for found, _deps in results for row in found})
    deps = {key: d for _found, batch in results for key, d in batch.items()}
    return Rows(["file", "focus", "path", "message"], [list(r) for r in rows]), deps
