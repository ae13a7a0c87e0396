"""Our namespace is closed: code and ontology declare the same terms, each with a label and comment."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT
from rdflib import Graph, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SKOS

from kg.vocab import KG

NS = str(KG._NS)
ONTOLOGY = Graph().parse(ROOT / "ontology" / "kg.ttl")


def declared() -> set[str]:
    kinds = (OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty, SKOS.Concept, SKOS.ConceptScheme)
    return {str(s)[len(NS) :] for kind in kinds for s in ONTOLOGY.subjects(RDF.type, kind) if str(s).startswith(NS)}


def used_in_code() -> set[str]:
    """Terms the package uses: KG.term in Python, kg:term in shipped SPARQL and shapes."""
    found: set[str] = set()
    for path in (ROOT / "kg").rglob("*.py"):
        found |= set(re.findall(r"\bKG\.([A-Za-z]+)", path.read_text(encoding="utf-8")))
    for path in [*(ROOT / "kg" / "sparql").glob("*.rq"), ROOT / "ontology" / "shapes.ttl"]:
        found |= set(re.findall(r"\bkg:([A-Za-z]+)", path.read_text(encoding="utf-8")))
    return found


def test_code_and_ontology_declare_the_same_terms() -> None:
    assert set(KG.__annotations__) == declared()


def test_every_term_the_code_uses_is_declared() -> None:
    assert used_in_code() - declared() == set()


def test_every_declared_term_is_used_by_the_code() -> None:
    assert declared() - used_in_code() == set()


@pytest.mark.parametrize("term", sorted(KG.__annotations__))
def test_every_term_has_a_label_and_a_comment(term: str) -> None:
    iri = URIRef(NS + term)
    assert ONTOLOGY.value(iri, RDFS.label) is not None
    assert ONTOLOGY.value(iri, RDFS.comment) is not None


def test_a_typo_in_a_term_is_an_error() -> None:
    with pytest.raises(AttributeError):
        KG.Claimm  # noqa: B018
