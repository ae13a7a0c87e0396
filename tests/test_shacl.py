"""The shapes compiled to SPARQL (kg.shacl, on Oxigraph) find what pySHACL finds, on real and broken data."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DATA, ROOT, shapes_with

from kg.cli import ExitCode, cli
from kg.errors import KgError
from kg.pipeline import make_dataset
from kg.shacl import UnsupportedShapeError, compile_shapes
from kg.validate import Report, compiled_shapes, validate, validate_with_pyshacl

SHAPES = ROOT / "ontology" / "shapes.ttl"
EVERY_FEATURE = DATA / "shapes-every-feature.ttl"
XSD = "http://www.w3.org/2001/XMLSchema#"
TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
BAD_VALUES = ['"x"', f'"2025-13-40"^^<{XSD}date>', f'"-1"^^<{XSD}integer>', f'"1.5"^^<{XSD}decimal>', '""',
              '"abc"@en', "<http://example.org/x>", f'"7"^^<{XSD}integer>', "_:b0"]


def found(report: Report) -> set[tuple[str, str, str]]:
    """(file, focus, path) of each violation; a path that is not an IRI is a blank node in pySHACL's report."""
    return {(r[0], r[1], r[2] if r[2].startswith("http") else "(a path)") for r in report.violations.values}


def same_as_pyshacl(nquads: str, shapes: Path) -> Report:
    compiled, reference = validate(nquads, shapes=shapes), validate_with_pyshacl(nquads, shapes=shapes)
    assert compiled.conforms == reference.conforms
    assert found(compiled) == found(reference)
    return compiled


def mutate(lines: list[str], rng: random.Random, shapes: Path) -> str:
    """Break a dataset a few ways: drop a quad, add a second or a wrong object, add a type, swap a value.

    Most edits hit a quad whose predicate a shape constrains (or a type), so that most cases break something.
    """
    constrained = {f"<{c.path}>" for c in compile_shapes(shapes).checks} | {TYPE}
    out = list(lines)
    for _ in range(rng.randint(1, 4)):
        hits = [i for i, li in enumerate(out) if li.split(" ", 2)[1] in constrained]
        j = rng.choice(hits) if hits and rng.random() < 0.8 else rng.randrange(len(out))
        s, p, _rest = out[j].split(" ", 2)
        g = out[j].rsplit(" ", 2)[1]
        other = rng.choice(lines).split(" ", 2)[2].rsplit(" ", 2)[0]
        op = rng.choice(["delete", "add", "value", "type", "swap"])
        if op == "delete":
            out.pop(j)
        elif op == "add":
            out.append(f"{s} {p} {other} {g} .\n")
        elif op == "value":
            out[j] = f"{s} {p} {rng.choice(BAD_VALUES)} {g} .\n"
        elif op == "type":
            cls = rng.choice([li for li in lines if f" {TYPE} " in li]).split(" ", 3)[2]
            out.append(f"{s} {TYPE} {cls} {g} .\n")
        else:
            out[j] = f"{s} {p} {other} {g} .\n"
    return "".join(out)


@pytest.fixture(scope="module")
def datasets() -> dict[str, str]:
    return {name: make_dataset(path)[1] for name, path in
            (("bundled", ROOT / "sources"), ("fixture", DATA / "sources"), ("hostile", DATA / "hostile"))}


@pytest.mark.parametrize("name", ["bundled", "fixture", "hostile"])
def test_the_corpora_conform_to_our_shapes_in_both_validators(datasets: dict[str, str], name: str) -> None:
    assert same_as_pyshacl(datasets[name], SHAPES).conforms


@pytest.mark.parametrize("name", ["bundled", "fixture", "hostile"])
def test_every_compiled_feature_finds_what_pyshacl_finds(datasets: dict[str, str], name: str) -> None:
    report = same_as_pyshacl(datasets[name], EVERY_FEATURE)
    assert len(found(report)) >= 10
    messages = {r[3] for r in report.violations.values}
    assert "an outlet publishes at least two documents here" in messages  # sh:message, on an inverse path
    assert any(m.startswith("a claim derived from a quote of https://example.org/kg/id/source/") for m in messages)


@pytest.mark.parametrize("seed", range(12))
def test_broken_data_gets_the_same_violations_as_pyshacl(datasets: dict[str, str], seed: int) -> None:
    rng = random.Random(seed)
    lines = datasets["fixture" if seed % 2 else "hostile"].splitlines(keepends=True)
    broken = 0
    for shapes in (SHAPES, EVERY_FEATURE):
        for _case in range(2):
            broken += not same_as_pyshacl(mutate(lines, rng, shapes), shapes).conforms
    assert broken  # every seed breaks something, so each compares real violations


def test_an_ill_typed_date_and_a_second_publisher_are_violations(datasets: dict[str, str]) -> None:
    data = datasets["fixture"]
    article = next(li for li in data.splitlines(keepends=True) if "<https://schema.org/datePublished>" in li)
    s, p, _o, rest = article.split(" ", 3)
    broken = (data + f'{s} {p} "2024-02-30"^^<{XSD}date> {rest}'
              + f"{s} <https://schema.org/publisher> <{s[1:-1]}> {rest}")
    report = same_as_pyshacl(broken, SHAPES)
    assert not report.conforms
    paths = {(r[1], r[2]) for r in report.violations.values}
    assert (s[1:-1], "https://schema.org/datePublished") in paths
    assert (s[1:-1], "https://schema.org/publisher") in paths
    assert all(r[0].endswith(".yaml") for r in report.violations.values)  # named by the record they came from


def test_a_node_constraint_says_what_the_nested_shape_says() -> None:
    checks = compile_shapes(SHAPES).checks
    assert any(c.message.endswith("a claim kind must be a concept of kg:ClaimKindScheme") for c in checks)


@pytest.mark.parametrize("feature", [
    "sh:closed true",
    "sh:property [ sh:path schema:name ; sh:uniqueLang true ]",
    "sh:property [ sh:path schema:name ; sh:qualifiedValueShape [ sh:datatype xsd:string ] ; sh:qualifiedMinCount 1 ]",
    'sh:property [ sh:path schema:name ; sh:languageIn ( "en" ) ]',
])
def test_shapes_the_compiler_does_not_know_are_run_by_pyshacl(tmp_path: Path, datasets: dict[str, str],
                                                              feature: str) -> None:
    shapes = shapes_with(tmp_path / "shapes.ttl",
                         f"kgs:Extra a sh:NodeShape ; sh:targetClass schema:Organization ; {feature} .\n")
    with pytest.raises(UnsupportedShapeError):
        compile_shapes(shapes)
    assert compiled_shapes(shapes) is None
    report = validate(datasets["fixture"], shapes=shapes)
    assert report == validate_with_pyshacl(datasets["fixture"], shapes=shapes)
    assert report.conforms == ("closed" not in feature and "languageIn" not in feature)  # no tags on names


def test_a_shapes_file_that_is_not_turtle_is_one_error_naming_its_line(tmp_path: Path,
                                                                      fixture_sources: Path) -> None:
    shapes = tmp_path / "shapes.ttl"
    shapes.write_text("@prefix sh: <http://www.w3.org/ns/shacl#> .\n\n<a> sh:path <b\n", encoding="utf-8")
    with pytest.raises(KgError, match=r"shapes\.ttl:3"):
        compile_shapes(shapes)
    store = tmp_path / "kg" / "store"
    result = CliRunner().invoke(cli, ["--store", str(store), "build", str(fixture_sources), "--shapes", str(shapes)])
    assert result.exit_code == ExitCode.ERROR
    assert result.stderr.startswith("Error: ") and "shapes.ttl:3" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not store.exists()
