"""SHACL validation of the dataset with pySHACL; each violation names the record file it came from.

This is the only module that imports pyshacl.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rdflib import Dataset, Graph, URIRef
from rdflib.namespace import SH

from kg.model import Rows
from kg.vocab import KG, NP

COLUMNS = ["file", "focus", "path", "message"]


@dataclass(frozen=True)
class Report:
    conforms: bool
    violations: Rows


def _origins(ds: Dataset) -> dict[URIRef, str]:
    record_file: dict[URIRef, str] = {
        s: str(o) for s, _p, o, _g in ds.quads((None, KG.recordFile, None, None)) if isinstance(s, URIRef)
    }
    parts = (NP.hasAssertion, NP.hasProvenance, NP.hasPublicationInfo)
    graph_file: dict[URIRef, str] = {}
    for np, p, part, head in ds.quads((None, None, None, None)):
        if p in parts and np in record_file:
            graph_file[part] = record_file[np]  # type: ignore[index]
            graph_file[head] = record_file[np]  # type: ignore[index]
    graph_file.update({g: f for g, f in record_file.items()})
    origins: dict[URIRef, str] = {}
    for s, _p, _o, g in ds.quads((None, None, None, None)):
        if g is not None and g in graph_file and s not in origins:
            origins[s] = graph_file[g]  # type: ignore[index]
    return origins


def load_dataset(nquads: str) -> Dataset:
    ds = Dataset()
    ds.parse(data=nquads, format="nquads")
    return ds


def validate(nquads: str, *, shapes: Path) -> Report:
    """Validate the dataset (as the union of its graphs) against the shapes file."""
    from pyshacl import validate as shacl_validate

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
    for result in results.subjects(SH.resultSeverity, SH.Violation):
        focus = results.value(result, SH.focusNode)
        path = results.value(result, SH.resultPath)
        message = results.value(result, SH.resultMessage)
        rows.append(
            [
                origins.get(focus, "") if isinstance(focus, URIRef) else "",  # type: ignore[call-overload]
                str(focus),
                str(path) if path is not None else "",
                str(message or ""),
            ]
        )
    rows.sort()
    return Report(bool(conforms), Rows(list(COLUMNS), rows))  # type: ignore[arg-type]
