"""SHACL validation of the dataset; each violation names the record file it came from.

The shapes run as SPARQL on Oxigraph (kg.shacl) when they use only what kg.shacl compiles,
and through pySHACL otherwise. pySHACL is also the reference the compiled checks are tested
against. This is the only module that imports pyshacl.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kg.model import Rows, Term

if TYPE_CHECKING:
    from rdflib import Dataset, URIRef

    from kg.shacl import Check, Shapes
    from kg.store import Store

COLUMNS = ["file", "focus", "path", "message"]


@dataclass(frozen=True)
class Report:
    conforms: bool
    violations: Rows


def _origins(ds: Dataset) -> dict[URIRef, str]:
    from rdflib import URIRef

    from kg.vocab import KG, NP

    record_file: dict[URIRef, str] = {
        s: str(o) for s, _p, o, _g in ds.quads((None, URIRef(KG.recordFile), None, None)) if isinstance(s, URIRef)
    }
    parts = {URIRef(NP.hasAssertion), URIRef(NP.hasProvenance), URIRef(NP.hasPublicationInfo)}
    graph_file: dict[URIRef, str] = {}
    for np, p, part, head in ds.quads((None, None, None, None)):
        if p in parts and np in record_file:
            graph_file[part] = record_file[np]  # type: ignore[index]
            graph_file[head] = record_file[np]  # type: ignore[index]
    graph_file.update({g: f for g, f in record_file.items()})
    origins: dict[URIRef, str] = {}
    for s, _p, _o, g in ds.quads((None, None, None, None)):
        if isinstance(s, URIRef) and g is not None and g in graph_file:
            file = graph_file[g]  # type: ignore[index]
            origins[s] = min(origins.get(s, file), file)  # a node said in several records: the first file, by name
    return origins


def load_dataset(nquads: str) -> Dataset:
    from rdflib import Dataset

    ds = Dataset()
    ds.parse(data=nquads, format="nquads")
    return ds


def validate(nquads: str, *, shapes: Path) -> Report:
    """Validate the dataset (as the union of its graphs) against the shapes file."""
    from kg.store import Store

    compiled = compiled_shapes(shapes)
    if compiled is None:
        return validate_with_pyshacl(nquads, shapes=shapes)
    conforms, rows = run_checks(Store.in_memory(nquads), compiled.checks)
    return Report(conforms, rows)


def validate_store(store: object, *, shapes: Path) -> Report:
    """Validate a store: in place when it is a local store and the shapes compile, else from its dump."""
    from kg.store import Store

    compiled = compiled_shapes(shapes)
    if compiled is not None and isinstance(store, Store):
        conforms, rows = run_checks(store, compiled.checks)
        return Report(conforms, rows)
    return validate(store.nquads(), shapes=shapes)  # type: ignore[attr-defined]


_ORIGINS = """
SELECT ?s (MIN(?file) AS ?f) WHERE {
  VALUES ?s { %s }
  GRAPH ?g { ?s ?p ?o }
  { ?g kg:recordFile ?file }
  UNION { ?np kg:recordFile ?file ; np:hasAssertion|np:hasProvenance|np:hasPublicationInfo ?g }
  UNION { GRAPH ?g { ?np np:hasAssertion|np:hasProvenance|np:hasPublicationInfo ?part } ?np kg:recordFile ?file }
} GROUP BY ?s
"""


def run_checks(store: Store, checks: list[Check]) -> tuple[bool, Rows]:
    """Run compiled checks on a store (the union of its graphs): (conforms, the violations as rows).

    Warnings and infos do not stop a dataset from conforming, and are not listed.
    """
    from kg.shacl import VIOLATION

    found: set[tuple[str, str, str]] = set()
    focus_terms: dict[str, Term] = {}
    for check in checks:
        if check.severity != VIOLATION:
            continue
        result = store.query(check.query)
        for row in result.terms:
            focus = row[0]
            assert focus is not None
            named = dict(zip(result.columns, row, strict=True))
            path = named.get("path")
            message = check.message
            for key, term in named.items():
                if term is not None:
                    message = message.replace("{?" + key + "}", term.value).replace("{$" + key + "}", term.value)
            focus_terms[focus.value] = focus
            found.add((focus.value, path.value if path is not None else check.path, message))
    files: dict[str, str] = {}
    iris = sorted(v for v, t in focus_terms.items() if t.kind == "uri")
    for start in range(0, len(iris), 1000):
        chunk = " ".join(f"<{i}>" for i in iris[start:start + 1000])
        for s, f in store.query(_ORIGINS % chunk).terms:
            if s is not None and f is not None:
                files[s.value] = f.value
    rows = sorted([files.get(focus, ""), focus, path, message] for focus, path, message in found)
    return not rows, Rows(list(COLUMNS), rows)  # type: ignore[arg-type]


def compiled_shapes(shapes: Path) -> Shapes | None:
    """The shapes compiled to SPARQL (once per file version in a process); None if pySHACL must run them."""
    stat = shapes.stat()
    return _compiled(str(shapes.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _compiled(path: str, _mtime_ns: int, _size: int) -> Shapes | None:
    from kg.shacl import UnsupportedShapeError, compile_shapes

    try:
        return compile_shapes(Path(path))
    except UnsupportedShapeError:
        return None


def validate_with_pyshacl(nquads: str, *, shapes: Path) -> Report:
    """Validate with pySHACL over an rdflib Dataset: every SHACL feature, much slower (the reference)."""
    from pyshacl import validate as shacl_validate
    from rdflib import Graph, URIRef
    from rdflib.namespace import SH

    ds = load_dataset(nquads)
    shapes_graph = Graph().parse(shapes, format="turtle")
    conforms, results, _text = shacl_validate(
        data_graph=ds,
        shacl_graph=shapes_graph,
        inference="none",
        advanced=True,
        allow_warnings=True,
        inplace=False,
    )
    assert isinstance(results, Graph)
    origins = _origins(ds)
    rows = []
    # the report's own results, not the sh:detail results nested in them (pySHACL lists both)
    for result in results.objects(None, SH.result):
        if results.value(result, SH.resultSeverity) != SH.Violation:
            continue
        focus = results.value(result, SH.focusNode)
        path = results.value(result, SH.resultPath)
        message = results.value(result, SH.resultMessage)
        rows.append(
            [
                origins.get(focus, "") if isinstance(focus, URIRef) else "",
                str(focus),
                str(path) if path is not None else "",
                str(message or ""),
            ]
        )
    rows.sort()
    return Report(bool(conforms), Rows(list(COLUMNS), rows))  # type: ignore[arg-type]
