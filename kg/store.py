"""The on-disk Oxigraph store: atomic replacement, read-only queries, results as plain data.

This is the only module that imports pyoxigraph.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import pyoxigraph as ox

from kg.errors import QueryError, StoreError
from kg.model import Result, Rows, Term
from kg.prefixes import PREFIXES

NQUADS_NAME = "dataset.nq"
BUILD_ID_FILE = "kg-build-id"  # inside the store directory; RocksDB ignores files it did not make


def _term(t: object) -> Term:
    if isinstance(t, ox.NamedNode):
        return Term("uri", t.value)
    if isinstance(t, ox.Literal):
        return Term("literal", t.value, t.datatype.value, t.language)
    if isinstance(t, ox.BlankNode):
        return Term("bnode", t.value)
    return Term("literal", str(t))


def turtle_triples(text: str) -> Iterator[tuple[Term, Term, Term]]:
    """The triples of a Turtle document as plain terms, parsed by Oxigraph."""
    for t in ox.parse(text.encode("utf-8"), format=ox.RdfFormat.TURTLE):
        yield _term(t.subject), _term(t.predicate), _term(t.object)


def _parse_binding(value: str) -> ox.NamedNode | ox.Literal:
    """`<iri>` or an absolute IRI gives an IRI; `"text"` or anything else gives a literal."""
    if value.startswith("<") and value.endswith(">"):
        return ox.NamedNode(value[1:-1])
    if re.match(r"^(https?|urn|mailto):\S+$", value):
        return ox.NamedNode(value)
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return ox.Literal(value[1:-1])
    prefix, _, local = value.partition(":")
    if prefix in PREFIXES and local and re.match(r"^[\w./-]+$", local):
        return ox.NamedNode(PREFIXES[prefix] + local)
    return ox.Literal(value)


_POSITION = re.compile(r"error at (\d+):(\d+): (.*)", re.S)


def describe_syntax_error(sparql: str, error: SyntaxError) -> str:
    """One line with line:column and a short reason, then the offending line and a caret."""
    text = str(error)
    m = _POSITION.match(text)
    if not m:
        return f"invalid SPARQL: {text.splitlines()[0]}. Fix the query"
    line, col, reason = int(m[1]), int(m[2]), m[3].splitlines()[0]
    if "Prefix not found" in reason:
        reason = "unknown prefix. Declare it with PREFIX, or use one of: " + ", ".join(sorted(PREFIXES))
    elif "expected one of" in reason:
        reason = reason.split("[", 1)[0].rstrip(" ,") or reason
    source = sparql.splitlines()[line - 1] if 0 < line <= len(sparql.splitlines()) else ""
    caret = " " * max(col - 1, 0) + "^"
    return f"invalid SPARQL at line {line}, column {col}: {reason}\n  {source}\n  {caret}"


class Store:
    """A read-only view of the store written by `kg build`."""

    def __init__(self, path: Path) -> None:
        if not (path / "CURRENT").exists():
            raise StoreError(f"no store at {path}. Run 'kg build' first, or pass --store")
        try:
            self._store = ox.Store.read_only(str(path))
        except OSError as e:
            raise StoreError(f"cannot open the store at {path}: {e}. Rebuild it with 'kg build'") from e
        self.path = path

    @classmethod
    def in_memory(cls, data: str, *, fmt: str = "nquads", source: Path | None = None) -> Store:
        """A store in memory loaded from N-Quads or Turtle (validation, tests, the incremental checks).

        Raises:
            StoreError: the data does not parse; names source and the line.
        """
        formats = {"nquads": ox.RdfFormat.N_QUADS, "turtle": ox.RdfFormat.TURTLE}
        self = cls.__new__(cls)
        self._store = ox.Store()
        try:
            self._store.bulk_load(data.encode("utf-8"), formats[fmt])
        except SyntaxError as e:
            where = f"{source or 'data'}:{e.lineno}" if e.lineno else f"{source or 'data'}"
            raise StoreError(f"{where}: invalid {fmt}: {e.msg}. Fix the file") from None
        self.path = Path(":memory:")
        return self

    def query(self, sparql: str, *, params: Mapping[str, str] | None = None, union: bool = True) -> Result:
        """Run SPARQL on Oxigraph's engine; params bind ?NAME to an IRI or a literal."""
        try:
            bindings: dict[ox.Variable, ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple] = {
                ox.Variable(k): _parse_binding(v) for k, v in (params or {}).items()}
        except ValueError as e:
            raise QueryError(f'a parameter is not a valid IRI ({e}). Write <iri>, prefix:name or "text"') from None
        try:
            result = self._store.query(
                sparql, prefixes=PREFIXES, substitutions=bindings, use_default_graph_as_union=union
            )
        except SyntaxError as e:
            raise QueryError(describe_syntax_error(sparql, e)) from None
        except RuntimeError as e:
            if "SELECT projection" in str(e):
                names = ", ".join(f"?{k}" for k in params or {})
                raise QueryError(
                    f"a bound parameter ({names}) must be a variable the query selects. "
                    "Add it to SELECT, or use SELECT *"
                ) from None
            raise QueryError(f"the query failed: {e}") from None
        except (OSError, ValueError) as e:
            raise QueryError(f"the query failed: {e}") from None
        if isinstance(result, ox.QuerySolutions):
            columns = [v.value for v in result.variables]
            terms = [[_term(row[c]) if row[c] is not None else None for c in columns] for row in result]
            return Result("select", columns, terms)
        if isinstance(result, ox.QueryBoolean):
            return Result("ask", boolean=bool(result))
        data = ox.serialize(result, format=ox.RdfFormat.N_TRIPLES)
        return Result("graph", ntriples=(data or b"").decode("utf-8"))

    def select(self, sparql: str, *, params: Mapping[str, str] | None = None) -> Rows:
        return self.query(sparql, params=params).select_rows()

    def is_empty(self) -> bool:
        return not self._store.query("ASK { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }")

    def count(self) -> int:
        return len(self._store)

    def nquads(self) -> str:
        """Every quad, as canonical sorted N-Quads."""
        data = self._store.dump(format=ox.RdfFormat.N_QUADS) or b""
        # split on "\n" only: literals may hold U+2028 or U+0085, which splitlines() also breaks at
        lines = {line + "\n" for line in data.decode("utf-8").split("\n") if line}
        return "".join(sorted(lines))


def convert_graph(ntriples: str, fmt: str) -> str:
    """Re-serialize N-Triples as turtle, nt or jsonld, with our prefixes for turtle."""
    formats = {"turtle": ox.RdfFormat.TURTLE, "nt": ox.RdfFormat.N_TRIPLES, "jsonld": ox.RdfFormat.JSON_LD}
    triples = ox.parse(ntriples.encode("utf-8"), format=ox.RdfFormat.N_TRIPLES)
    out = ox.serialize(triples, format=formats[fmt], prefixes=PREFIXES if fmt == "turtle" else None)
    return (out or b"").decode("utf-8")


def write_store(path: Path, nquads: str, *, build_id: str | None = None) -> None:
    """Replace the store at path with one holding nquads; the old one stays until the new is ready."""

    def fill(staging: Path) -> None:
        fresh = ox.Store(str(staging))
        try:
            fresh.bulk_load(nquads.encode("utf-8"), ox.RdfFormat.N_QUADS)
            fresh.flush()
        finally:
            del fresh  # closes RocksDB before the directory moves

    _replace_store(path, fill, build_id=build_id)


def load_store(path: Path, nquads_file: Path, *, build_id: str | None = None) -> None:
    """Replace the store at path with one bulk-loaded from an N-Quads file (the dump of a build)."""
    _replace_store(path, lambda staging: _bulk_load(staging, nquads_file), build_id=build_id)


def _bulk_load(staging: Path, nquads_file: Path) -> None:
    fresh = ox.Store(str(staging))
    try:
        fresh.bulk_load(path=str(nquads_file), format=ox.RdfFormat.N_QUADS)
        fresh.flush()
    finally:
        del fresh  # closes RocksDB before the directory moves


class StagedStore:
    """A store bulk-loaded from a dump in a background thread while the build goes on (validating).

    pyoxigraph releases the GIL while it loads, so the load runs beside Python work; the store at
    path is replaced only by :meth:`commit`, and :meth:`discard` leaves it as it was. Open it after
    any fork: a process that forks while RocksDB's threads run may deadlock in the child.
    """

    def __init__(self, path: Path, nquads_file: Path, *, build_id: str) -> None:
        self.path, self.nquads_file, self.build_id = path, nquads_file, build_id
        self.staging = path.with_name(path.name + f".staged-{os.getpid()}")
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._dump_ready = threading.Event()
        self._cancelled = False

    def open(self) -> None:
        """Create the store now, in the background (RocksDB takes a while to), and load it on :meth:`start`."""
        if self._thread is None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self._thread = threading.Thread(target=self._load, name="kg-bulk-load", daemon=True)
            self._thread.start()

    def start(self) -> None:
        """Load the dump, which is complete now."""
        self.open()
        self._dump_ready.set()

    def _load(self) -> None:
        try:
            fresh = ox.Store(str(self.staging))
            try:
                self._dump_ready.wait()
                if not self._cancelled:
                    fresh.bulk_load(path=str(self.nquads_file), format=ox.RdfFormat.N_QUADS)
                    fresh.flush()
            finally:
                del fresh  # closes RocksDB before the directory moves
        except BaseException as e:  # handed to the thread that commits
            self._error = e

    def commit(self) -> None:
        """Wait for the load, then swap the loaded store in for the one at path."""
        self.start()
        assert self._thread is not None
        self._thread.join()
        error = self._error

        def fill(staging: Path) -> None:
            if error is not None:
                raise error
            self.staging.rename(staging)

        try:
            _replace_store(self.path, fill, build_id=self.build_id)
        finally:
            shutil.rmtree(self.staging, ignore_errors=True)

    def discard(self) -> None:
        if self._thread is not None:
            self._cancelled = True
            self._dump_ready.set()
            self._thread.join()
        shutil.rmtree(self.staging, ignore_errors=True)


def update_store(
    path: Path,
    *,
    remove: str,
    add: str,
    drop_graphs: Iterable[str],
    keep_prefixes: Sequence[str] | None,
    build_id: str,
) -> None:
    """Change the store by a difference, atomically: the change is made on a copy, then swapped in.

    The copy is a RocksDB checkpoint (hard links, so it costs little at any size). On the copy:
    drop the graphs that no longer exist, remove the quads of `remove`, add those of `add` (both
    N-Quads), and, unless keep_prefixes is None, drop every named graph whose IRI starts with none
    of them (such as the audit graph `kg audit` adds: a full build would not have it either).
    Readers of the old store, and a failure at any step, both see the previous store as it was.
    """

    def fill(staging: Path) -> None:
        current = ox.Store(str(path))
        try:
            current.backup(str(staging))
        finally:
            del current
        store = ox.Store(str(staging))
        try:
            for graph in drop_graphs:
                store.remove_graph(ox.NamedNode(graph))
            for quad in ox.parse(remove.encode("utf-8"), format=ox.RdfFormat.N_QUADS):
                store.remove(quad)
            store.load(add.encode("utf-8"), ox.RdfFormat.N_QUADS)
            if keep_prefixes is not None:
                prefixes = tuple(keep_prefixes)
                for name in list(store.named_graphs()):
                    if isinstance(name, ox.NamedNode) and not name.value.startswith(prefixes):
                        store.remove_graph(name)
            store.flush()
        finally:
            del store

    _replace_store(path, fill, build_id=build_id)


def store_build_id(path: Path) -> str | None:
    """The id `kg build` wrote into the store it made, or None (no store, or one made otherwise)."""
    try:
        return (path / BUILD_ID_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None


def store_signature(path: Path) -> str:
    """Changes whenever the store is opened for writing (RocksDB then writes new files); "" if absent.

    Read-only opens (every query command) leave it as it was. The incremental build compares it
    with the one it saw after its own write to know whether anything else (kg audit) wrote since.
    """
    try:
        names = sorted(p.name for p in path.iterdir() if not p.name.startswith("LOG"))
    except OSError:
        return ""
    return "/".join(names)


def _replace_store(path: Path, fill: Callable[[Path], None], *, build_id: str | None) -> None:
    """Make a new store in a staging directory with fill, then swap it in for the one at path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + f".new-{os.getpid()}")
    retired = path.with_name(path.name + f".old-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        fill(staging)
        if build_id is not None:  # written last: a store that has the id is a complete one
            (staging / BUILD_ID_FILE).write_text(build_id + "\n", encoding="utf-8")
        if path.exists():
            path.rename(retired)
        staging.rename(path)
    except (OSError, SyntaxError, ValueError) as e:
        shutil.rmtree(staging, ignore_errors=True)
        if retired.exists() and not path.exists():
            retired.rename(path)
        raise StoreError(f"cannot write the store at {path}: {e}. The previous store was kept") from e
    shutil.rmtree(retired, ignore_errors=True)


def write_atomically(path: Path, data: str) -> None:
    """Write a text file so readers see either the old or the new content, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    tmp.write_text(data, encoding="utf-8")
    tmp.replace(path)


@contextlib.contextmanager
def build_lock(store_path: Path) -> Iterator[None]:
    """Hold an exclusive lock beside the store for one build; a second build fails at once."""
    import fcntl

    from kg.errors import BuildLockedError

    store_path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = store_path.with_name(store_path.name + ".lock")
    with lock_path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildLockedError(
                f"another 'kg build' is writing {store_path} (lock {lock_path}). Wait for it to finish"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def replace_graph(path: Path, graph: str, nquads: str) -> None:
    """Replace one named graph of the on-disk store in a single atomic update."""
    try:
        store = ox.Store(str(path))
        data = ox.Dataset(ox.parse(nquads.encode("utf-8"), format=ox.RdfFormat.N_QUADS))
        target = ox.NamedNode(graph)
        body = " ".join(f"{q.subject} {q.predicate} {q.object} ." for q in data)
        store.update(f"DROP SILENT GRAPH {target} ; INSERT DATA {{ GRAPH {target} {{ {body} }} }}")
        store.flush()
        del store
    except (OSError, SyntaxError, ValueError) as e:
        raise StoreError(f"cannot write graph {graph} into {path}: {e}. The store was left as it was") from e
