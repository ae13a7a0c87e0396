"""The build at scale: records as parts, a content-addressed cache, validation per part, and
incremental updates of the store and the dump.

Every quad of the dataset belongs to exactly one *part*: a record file (its record graph and the
four graphs of each of its claims' nanopublications), one analysis quote's match in the derived
graph, the clause timeline in the derived graph, or the ontology graph. The canonical dump is the
sorted merge of the parts' own sorted lines, so a build that knows which parts changed can rewrite
the dump by splicing and change the store by a difference, and get the same bytes and the same
quads as a full build.

A full build reads every record (on every core when there are many), checks them, matches the
analysis quotes through a bigram index (:class:`kg.quote_index.QuoteIndex`), writes the dump
(:mod:`kg.dump_file`), validates the parts in batches (:mod:`kg.part_validation`: on every core,
each batch loaded into an in-memory Oxigraph store and checked by the shapes compiled to SPARQL,
:mod:`kg.shacl`) while the store bulk-loads from the dump in a background thread (swapped in only
if the parts conform), then writes the cache beside the store (``<store>.cache/``,
:mod:`kg.build_cache`): one file per record, named by the hash of its content, with its model and
its lines; an index with what every next build needs (small, read each time); and side files read
only when needed (every passage; the quote index).

The next build stats the records (a file whose size, mtime and inode are unchanged, and that was
not modified just before the cache was written, is not re-read), re-reads only the changed,
added and deleted ones, and:

- checks references across records on the cached summaries (:mod:`kg.record_refs`; and, if that
  finds a problem, on all the cached models with :func:`kg.records.check_corpus`, for the very
  error a full build gives);
- updates the quote matches: each analysis quote keeps every passage it matches, so only the
  changed passages and the changed quotes are matched;
- validates per part: a part's data graph is its own quads plus everything its nodes point to in
  the reference graphs (organizations, agreements, ontology) and in other records' record graphs.
  That gives the same violations as validating the whole dataset when the shapes only follow paths
  forward from a focus node of a class, as ours do (:func:`kg.part_validation.local_shapes`; other
  shapes are validated on the whole dataset, and every build is then a full one). Nodes that
  several records describe, the clause versions, are described identically by each (their IRI
  fixes ``dcterms:isVersionOf`` and ``prov:wasGeneratedBy``), so a record's own statements
  suffice. A part is validated again when it changed or when something it read changed
  (:class:`kg.build_cache.Deps`);
- splices the dump and changes a hard-linked copy of the store, then swaps both in, under
  ``build_lock``; any failure leaves the previous store and dump as they were.

Anything the cache cannot vouch for (another kg version, ontology or shapes, another sources
folder, a store or dump changed behind its back) makes the build a full one.

The parsed-query cache for pySHACL (:func:`kg.part_validation.prepared_sparql`, used only for
shapes kg.shacl does not compile) would sit better in kg.validate; it is in kg.part_validation
because that is the module that needed it.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from kg.build import DERIVED, ONTOLOGY, nquads, ontology_quads
from kg.build_cache import (
    Cache,
    Deps,
    Entry,
    Index,
    dump_stat,
    file_stat,
    fingerprint,
    read_into_cache,
    read_units,
    record_digest,
    record_names,
)
from kg.dump_file import chain_lines, graphs_of, lines_of, merge, splice
from kg.errors import SourceError
from kg.model import Agreement, Document, Registry, Rows
from kg.part_validation import POOL_MIN_LINES, Closure, Part, by_subject, local_shapes, validate_parts
from kg.pipeline import ONTOLOGY_DIR, NonConformantError, Progress, Summary, default_shapes
from kg.quote_index import (
    POOL_MIN_PASSAGES,
    PKey,
    QKey,
    QuoteIndex,
    best_match,
    match_part,
    part_key,
    passage_words,
    scan_few,
    scan_passages,
)
from kg.record_refs import Record, references_ok, timeline_lines
from kg.vocab import ID

RACY_NS = 2_000_000_000  # a file modified this close to the cache's writing is re-hashed


# ---- the builds ------------------------------------------------------------------------------------


def run(sources_dir: Path, *, store_path: Path, dump_path: Path, shapes: Path | None = None,
        full: bool = False, progress: Progress = lambda _m: None) -> Summary:
    """kg build: incremental when the cache vouches for the store and the dump, full otherwise."""
    from dataclasses import replace

    from kg.store import build_lock

    started = time.perf_counter()
    shapes = shapes or default_shapes()
    with _fewer_collections(), build_lock(store_path), Cache(store_path) as cache:
        summary = None if full else _incremental(sources_dir, store_path, dump_path, shapes, cache, progress)
        if summary is None:
            summary = _full(sources_dir, store_path, dump_path, shapes, cache, progress)
    return replace(summary, seconds=time.perf_counter() - started)


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Python's cycle collector, run less often: a build makes millions of small objects and almost no
    cycles, and each collection walks every object alive (what is imported by now is frozen: skipped)."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _forks_ahead(lines: int, passages: int) -> bool:
    """Whether matching or validating will start worker processes: they must fork before RocksDB's threads run."""
    return passages >= POOL_MIN_PASSAGES or lines >= POOL_MIN_LINES


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
    read = read_into_cache(paths, sources_dir.name, cache)
    entries = {e.name: e for e, _p, _w, _r in read}
    references: list[Registry | Agreement] = [r for _e, _p, _w, r in read if r is not None]
    passages = {e.rid: ps for e, ps, _w, _r in read if ps}
    words = {e.rid: w for e, ps, w, _r in read if ps}  # kept for the next builds' new quotes (scan_few)
    del read
    tmp = dump_path.with_name(dump_path.name + f".tmp-{os.getpid()}")
    build_id = _new_build_id()
    staged = StagedStore(store_path, tmp, build_id=build_id)
    if not _forks_ahead(sum(e.lines for e in entries.values()), sum(len(ps) for ps in passages.values())):
        staged.open()  # RocksDB sets up the new store while the quotes are matched and the dump merged
    try:
        if not references_ok(references, [(e.rid, e.refs) for e in entries.values() if e.refs is not None]):
            check_corpus([cache.load_record(e.digest) for e in entries.values()])  # raises the error it finds
        progress(f"matching the quotes of {sum(e.refs is not None for e in entries.values())} documents")
        quotes = [q for e in entries.values() for q in e.analysis_quotes]
        quote_index = QuoteIndex(quotes)
        found = scan_passages(quote_index, (p for ps in passages.values() for p in ps))
        matches = {key: found.get(key, []) for key, _text in quotes}
        derived = {part_key(k): match_part(k, best_match(f)) for k, f in matches.items()}
        derived["timeline"] = timeline_lines(references, (e.refs for e in entries.values() if e.refs is not None))
        ontology = nquads(ontology_quads((ONTOLOGY_DIR / "kg.ttl").read_text(encoding="utf-8")))
        progress(f"merging {dump_path}")
        dump_path.parent.mkdir(parents=True, exist_ok=True)
        merge(tmp, [cache.line_source(e.digest) for e in entries.values()], [*derived.values(), ontology])
        lines = sum(e.lines for e in entries.values()) + sum(t.count("\n") for t in (*derived.values(), ontology))
        bits: dict[str, int] = {}
        local = local_shapes(shapes)
        if local:
            by_rid = {e.rid: e for e in entries.values()}
            ref_lines = "".join(cache.load_lines(e.digest) for e in entries.values() if e.is_reference) + ontology

            def record_lines(rid: str) -> str | None:
                return cache.load_lines(by_rid[rid].digest) if rid in by_rid else None

            parts = [Part(e.name, e.rid, digest=e.digest, lines=e.lines) for e in entries.values()
                     if not e.is_reference]
            parts.append(Part("references", None, ref_lines, lines=ref_lines.count("\n")))
            parts += [Part(key, None, text, lines=text.count("\n")) for key, text in derived.items() if text]
            # the store loads from the dump while the parts are validated; it replaces the old one only if valid
            violations, deps = validate_parts(parts, Closure(ref_lines, bits, record_lines), shapes, cache=cache,
                                              progress=progress, meanwhile=staged.start, complete=True)
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
        dump=str(dump_path.resolve()), dump_stat=dump_stat(dump_path), build_id=build_id,
        store_signature=store_signature(store_path), written_ns=0, lines=lines, entries=entries,
        references={r.id: r for r in references}, ontology=ontology, bits=bits, matches=matches, derived=derived,
        derived_deps={k: d for k, d in deps.items() if k in derived}, aux={},
    )
    cache.save_side(index, "passages", passages)
    cache.save_side(index, "words", words)
    cache.save_side(index, "quotes", quote_index)
    cache.save(index)
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
            or index.dump != str(dump_path.resolve()) or index.dump_stat != dump_stat(dump_path)
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
        stat = file_stat(path)
        if entry is not None and stat == entry.stat and stat[1] < trusted_before:
            unchanged[name] = entry
        elif entry is not None and record_digest(folder, name, path.read_bytes()) == entry.digest:
            unchanged[name] = index.entries[name] = entry._replace(stat=stat)  # touched, not changed
            restat = True
        else:
            to_read.append(path)
    deleted = [e for name, e in index.entries.items() if name not in unchanged and name not in
               {p.name for p in to_read}]
    if not to_read and not deleted:
        if restat:
            cache.save(index)
        progress("nothing changed")
        return _summary(index.entries.values(), index.lines)
    progress(f"re-reading {len(to_read)} changed or new records ({len(deleted)} deleted)")
    new_units = {u.name: u for u in read_units(to_read, folder)}
    gone = [index.entries[name] for name in new_units if name in index.entries] + deleted
    fresh = {name: u.entry(cache.store_unit(u)) for name, u in new_units.items()}  # the index names them last
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
    old_texts = {key: text for e in gone for key, text in e.analysis_quotes}
    # a quote of a changed record whose text did not change keeps its matches (bar the changed passages)
    kept = {key for e in fresh.values() for key, text in e.analysis_quotes if old_texts.get(key) == text}
    for key in [k for k in matches if k[0] in changed and k not in kept]:
        del matches[key]
    for key, found in matches.items():
        if any(pkey[0] in changed for pkey, _m in found):
            matches[key] = [f for f in found if f[0][0] not in changed]
            touched.add(key)
    new_passages = [p for u in new_units.values() for p in u.passages()]
    new_quotes = [q for e in fresh.values() for q in e.analysis_quotes if q[0] not in kept]
    old_quotes = [k for k in old_texts if k not in kept]
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
    words: dict[str, tuple[str, ...]] | None = None
    passages_changed = any(e.has_passages for e in gone) or bool(new_passages)
    if new_quotes or passages_changed:
        passages = cache.load_side("passages", index.aux.get("passages"))
        words = cache.load_side("words", index.aux.get("words"))
        if passages is None or words is None:
            return None
        for rid in changed:
            passages.pop(rid, None)
            words.pop(rid, None)
        for u in new_units.values():
            if u.passages():
                passages[u.record.id] = u.passages()
                words[u.record.id] = tuple(passage_words(t) for _k, t in u.passages())
    if new_quotes:
        assert passages is not None and words is not None
        worded = ((k, t, w) for rid, ps in passages.items() for (k, t), w in zip(ps, words[rid], strict=True))
        found_new = scan_few(QuoteIndex(new_quotes), worded)
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
        before = by_subject("".join(old_lines[e.rid] for e in gone if e.is_reference))
        after = by_subject("".join(u.lines for u in new_units.values() if not isinstance(u.record, Document)))
        for subject in before.keys() | after.keys():
            if before.get(subject) != after.get(subject):
                dirty |= 1 << index.bits.setdefault(subject, len(index.bits))
    dirty_subjects: set[str] = set()  # nodes whose description in a record graph changed
    for rid in {e.rid for e in gone if not e.is_reference} | {e.rid for e in fresh.values() if not e.is_reference}:
        graph = f" <{ID}graph/record/{rid}> .\n"
        before = by_subject("".join(li for li in lines_of(old_lines.get(rid, "")) if li.endswith(graph)))
        after = by_subject("".join(li for li in lines_of(unit_lines(rid) or "") if li.endswith(graph)))
        dirty_subjects.update(s for s in before.keys() | after.keys() if before.get(s) != after.get(s))
    parts: list[Part] = []
    for e in entries.values():
        if e.refs is None:
            continue
        if e.name in fresh:
            parts.append(Part(e.name, e.rid, new_units[e.name].lines, lines=e.lines))
        elif e.deps.bits & dirty or not dirty_subjects.isdisjoint(e.deps.subjects):
            parts.append(Part(e.name, e.rid, digest=e.digest, lines=e.lines))
    if dirty:
        parts.append(Part("references", None, ref_lines, lines=ref_lines.count("\n")))
    for part, text in derived.items():
        read = index.derived_deps.get(part, Deps())
        if text and (part in changed_parts or read.bits & dirty or not dirty_subjects.isdisjoint(read.subjects)):
            parts.append(Part(part, None, text, lines=text.count("\n")))
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
    index.build_id, index.dump_stat = build_id, dump_stat(dump_path)
    index.store_signature = store_signature(store_path)
    if quote_index is not None and (new_quotes or old_quotes):
        cache.save_side(index, "quotes", quote_index)
    if passages_changed and passages is not None and words is not None:  # not when only read for new quotes
        cache.save_side(index, "passages", passages)
        cache.save_side(index, "words", words)
    cache.save(index)
    cache.collect(index)
    return _summary(entries.values(), index.lines)
