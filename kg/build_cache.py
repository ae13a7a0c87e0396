"""The build cache beside the store: what it keeps of each record, its index, and reading records into it."""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from kg.build import nquads, record_quads
from kg.errors import KgError, SourceError
from kg.model import Agreement, Document, Registry
from kg.parallel import pool_map
from kg.pipeline import ONTOLOGY_DIR
from kg.quote_index import Found, PKey, QKey, document_passages, passage_words
from kg.record_refs import DocRefs, Record, doc_refs

T = TypeVar("T")

CACHE_FORMAT = 2  # 2: units in pack files
POOL_MIN_RECORDS = 300  # below this, one process beats starting workers
# The pack each process appends to, by units folder: module state, because pool workers get the
# Cache pickled anew with every chunk of work, and each would otherwise start a pack per chunk.
_PACKS: dict[str, tuple[int, int, str]] = {}  # units folder -> (pid, fd, pack name)
LINE_BUFFER = 8192  # bytes read at a time from each unit a merge streams (what a file object buffers)
COMPACT_SLACK = 1 << 20  # dead bytes in the packs beyond twice the live ones before they are rewritten
BUILD_MODULES = ("build", "build_cache", "dump_file", "errors", "incremental", "matching", "model", "parallel",
                 "part_validation", "pipeline", "prefixes", "quote_index", "record_refs", "records", "shacl", "store",
                 "validate", "vocab")


# ---- what the cache keeps ----------------------------------------------------------------------


@dataclass(frozen=True)
class Deps:
    """What a part's validation read besides its own quads, so a change there re-validates it."""

    bits: int = 0  # reference subjects (one bit each, numbered in Index.bits)
    subjects: tuple[str, ...] = ()  # nodes of other records it looked up, found or not (a tuple: quick to load)


class Where(NamedTuple):
    """Where a unit is in the cache: its pack file, the offset of its lines, and the sizes of its lines and model."""

    pack: str
    offset: int
    lines: int
    model: int


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
    where: Where | None = None  # its unit in the cache

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

    def entry(self, where: Where | None = None) -> Entry:
        r = self.record
        kind = r.type if isinstance(r, Document) else "organizations" if isinstance(r, Registry) else "agreement"
        lines = self.lines.count("\n")
        if not isinstance(r, Document):
            return Entry(self.name, self.stat, self.digest, r.id, kind, lines=lines, where=where)
        quotes = tuple(((r.id, q.id), q.text) for q in r.quotes) if r.type == "analysis" else ()
        return Entry(self.name, self.stat, self.digest, r.id, kind, len(r.claims), len(r.quotes), doc_refs(r),
                     quotes, Deps(), lines, where)

    def passages(self) -> tuple[tuple[PKey, str], ...]:
        r = self.record
        return tuple(document_passages(r)) if isinstance(r, Document) and r.type != "analysis" else ()


# ---- reading records into the cache --------------------------------------------------------------


def file_stat(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns, st.st_ino


def dump_stat(path: Path) -> tuple[int, int, int]:
    try:
        return file_stat(path)
    except OSError:
        return (-1, -1, -1)


def record_digest(folder: str, name: str, raw: bytes) -> str:
    h = hashlib.blake2b(f"{folder}\0{name}\0".encode(), digest_size=16)
    h.update(raw)
    return h.hexdigest()


def _read_unit(path: Path, folder: str) -> Unit | None:
    """The unit of one record file, or None if it has an error (the caller re-reads it to raise)."""
    from kg.records import read_record

    raw = path.read_bytes()
    stat = file_stat(path)
    try:
        record = read_record(path, raw)
    except SourceError:
        return None
    lines = nquads(record_quads(record, file=f"{folder}/{path.name}"))
    return Unit(path.name, record_digest(folder, path.name, raw), stat, record, lines)


def read_units(paths: Sequence[Path], folder: str) -> list[Unit]:
    """Read record files (in parallel when there are many); the first error in path order is raised."""
    from functools import partial

    return _read_all(partial(_read_unit, folder=folder), paths)


# what a full build keeps of each record: its entry, passages, the words of each passage, and the model of
# a reference record
Read = tuple[Entry, tuple[tuple[PKey, str], ...], tuple[str, ...], "Registry | Agreement | None"]


def _cache_unit(path: Path, folder: str, cache: Cache) -> Read | None:
    """Read one record into the cache; what the build keeps in memory of it (not its lines)."""
    unit = _read_unit(path, folder)
    if unit is None:
        return None
    reference = None if isinstance(unit.record, Document) else unit.record
    passages = unit.passages()
    return unit.entry(cache.store_unit(unit)), passages, tuple(passage_words(t) for _k, t in passages), reference


def read_into_cache(paths: Sequence[Path], folder: str, cache: Cache) -> list[Read]:
    """Read record files into the cache (in parallel when there are many); the first error is raised."""
    from functools import partial

    cache.units.mkdir(parents=True, exist_ok=True)
    read = _read_all(partial(_cache_unit, folder=folder, cache=cache), paths)
    cache.register(e for e, _p, _w, _r in read)  # the workers wrote them: this process learns where
    return read


def _read_all(read: Callable[[Path], T | None], paths: Sequence[Path]) -> list[T]:
    """read on every path (on every core when there are many); a None becomes the error a plain read gives."""
    if len(paths) >= POOL_MIN_RECORDS:
        from kg.records import prepare_checks

        prepare_checks()  # once here, not once in every worker after the fork
    results = pool_map(read, paths, chunksize=32) if len(paths) >= POOL_MIN_RECORDS else [read(p) for p in paths]
    out: list[T] = []
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
    """The files beside the store: index.pickle, the side files, and the units in units/*.pack.

    A unit (a record's canonical lines, then its pickled model) is appended to a pack file: the
    process that read the record writes it, each process to a pack of its own, so a build makes a
    few files rather than two per record (making files is what took a small build longest here).
    The index names where each unit is; :meth:`collect` deletes packs no entry uses, and rewrites
    the live units into one pack when edits have left the packs mostly dead.

    The side files (every passage; the quote index) are read only by builds that need them, and
    rewritten only when they change; the index names the token each was written with.
    """

    def __init__(self, store_path: Path) -> None:
        self.dir = store_path.with_name(store_path.name + ".cache")
        self.units = self.dir / "units"
        self._where: dict[str, Where] = {}  # digest -> its unit
        self._readers: dict[str, int] = {}  # pack name -> a file descriptor to read units with (pread)

    def __getstate__(self) -> dict[str, Any]:
        """What a pool worker gets with its work: the folders, not this process's maps (which do not pickle)."""
        return {"dir": self.dir, "units": self.units, "_where": {}, "_readers": {}}

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        for fd in self._readers.values():
            os.close(fd)
        self._readers.clear()
        writer = _PACKS.pop(str(self.units), None)
        if writer is not None and writer[0] == os.getpid():
            os.close(writer[1])

    def load_index(self) -> Index | None:
        try:
            with (self.dir / "index.pickle").open("rb") as f:
                index = pickle.load(f)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError):
            return None
        if not isinstance(index, Index):
            return None
        self.register(index.entries.values())
        return index

    def register(self, entries: Iterable[Entry]) -> None:
        """Learn where the units of entries are (written by another process, or by an earlier build)."""
        self._where.update((e.digest, e.where) for e in entries if e.where is not None)

    def load_lines(self, digest: str) -> str:
        """A record's canonical lines (bytes decoded as they are: no newline translation)."""
        w = self._where[digest]
        return self._read(w.pack, w.offset, w.lines).decode("utf-8")

    def line_source(self, digest: str) -> Iterator[bytes]:
        """A record's canonical lines one at a time, as bytes (for merging them without holding them all)."""
        w = self._where[digest]
        fd, at, end, rest = self._reader(w.pack), w.offset, w.offset + w.lines, b""
        while at < end:  # a small buffer each: a merge reads thousands of units side by side
            chunk = os.pread(fd, min(LINE_BUFFER, end - at), at)
            if not chunk:
                raise KgError(f"{self.units / w.pack}: shorter than the cache index says. Run 'kg build --full'")
            at += len(chunk)
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                yield line + b"\n"

    def load_record(self, digest: str) -> Record:
        w = self._where[digest]
        record: Record = pickle.loads(self._read(w.pack, w.offset + w.lines, w.model))
        return record

    def store_unit(self, unit: Unit) -> Where:
        """Append the record's lines and model to this process's pack; where they are."""
        lines = unit.lines.encode("utf-8")
        model = pickle.dumps(unit.record, protocol=pickle.HIGHEST_PROTOCOL)
        fd, name = self._pack()
        offset = os.lseek(fd, 0, os.SEEK_END)
        _write_all(fd, lines + model)
        self._where[unit.digest] = where = Where(name, offset, len(lines), len(model))
        return where

    def _pack(self) -> tuple[int, str]:
        """This process's pack (a worker forked from a process with one opens its own)."""
        writer = _PACKS.get(str(self.units))
        if writer is None or writer[0] != os.getpid():
            self.units.mkdir(parents=True, exist_ok=True)
            name = f"{os.getpid()}-{os.urandom(6).hex()}.pack"
            fd = os.open(self.units / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            _PACKS[str(self.units)] = writer = (os.getpid(), fd, name)
        return writer[1], writer[2]

    def _reader(self, pack: str) -> int:
        fd = self._readers.get(pack)
        if fd is None:
            fd = self._readers[pack] = os.open(self.units / pack, os.O_RDONLY)
        return fd

    def _read(self, pack: str, offset: int, size: int) -> bytes:
        data = os.pread(self._reader(pack), size, offset)
        if len(data) != size:
            raise KgError(f"{self.units / pack}: shorter than the cache index says. Run 'kg build --full'")
        return data

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

    def save(self, index: Index) -> None:
        """Write the index (after the units it names: it is what vouches for them)."""
        index.written_ns = time.time_ns()
        self._write(self.dir / "index.pickle", pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL))

    def collect(self, index: Index) -> None:
        """Delete the packs no entry uses; rewrite the live units into one pack when most bytes are dead."""
        used: dict[str, int] = {}
        for e in index.entries.values():
            if e.where is not None:
                used[e.where.pack] = used.get(e.where.pack, 0) + e.where.lines + e.where.model
        sizes = {}
        for path in self.units.iterdir():
            if path.name not in used:
                path.unlink(missing_ok=True)
            else:
                sizes[path.name] = path.stat().st_size
        live = sum(used.values())
        if len(sizes) > 1 and sum(sizes.values()) > 2 * live + COMPACT_SLACK:
            self._compact(index)

    def _compact(self, index: Index) -> None:
        old = {e.where.pack for e in index.entries.values() if e.where is not None}
        self.close()
        moved: dict[str, Entry] = {}
        for name, e in index.entries.items():
            if e.where is None:
                continue
            data = self._read(e.where.pack, e.where.offset, e.where.lines + e.where.model)
            fd, pack = self._pack()
            moved[name] = e._replace(where=Where(pack, os.lseek(fd, 0, os.SEEK_END), e.where.lines, e.where.model))
            _write_all(fd, data)
        index.entries.update(moved)
        self.register(moved.values())
        self.save(index)
        self.close()
        for pack in old:
            (self.units / pack).unlink(missing_ok=True)

    def drop(self) -> None:
        (self.dir / "index.pickle").unlink(missing_ok=True)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
        tmp.write_bytes(data)
        tmp.replace(path)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while len(view):
        view = view[os.write(fd, view):]
