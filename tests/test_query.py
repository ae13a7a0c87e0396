"""kg query: named queries, formats, parameters, errors; SPARQL always runs on Oxigraph's engine."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kg.cli import ExitCode, cli
from kg.queries import list_queries, load


def run(runner: CliRunner, store: Path, *args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(cli, ["--store", str(store), "query", *args], input=stdin)


def rows(runner: CliRunner, store: Path, *args: str) -> list[dict[str, str]]:
    result = run(runner, store, *args, "-f", "csv")
    assert result.exit_code == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_at_least_twelve_named_queries_each_with_a_description() -> None:
    named = list_queries()
    assert len(named) >= 12
    assert all(description for _, description in named)


@pytest.mark.parametrize("name", [n for n, _ in list_queries()])
def test_every_named_query_answers_on_the_bundled_corpus(runner: CliRunner, bundled_store: Path, name: str) -> None:
    fmt = "nt" if "CONSTRUCT" in load(name) else "csv"
    result = run(runner, bundled_store, name, "-f", fmt)
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) >= 2, f"{name} returned nothing"


def test_list_shows_names_and_descriptions(runner: CliRunner, bundled_store: Path) -> None:
    result = run(runner, bundled_store, "--list")
    assert result.exit_code == 0
    assert "timeline" in result.stdout and "The timeline of the partnership" in result.stdout


def test_quote_origins_match_the_dossier(runner: CliRunner, bundled_store: Path) -> None:
    found = {r["quote"][:31]: (r["match"], r["outlet"]) for r in rows(runner, bundled_store, "quote-origins")}
    assert found == {
        "OpenAI can now sell products on": ("no source found", ""),
        "OpenAI will lose some of its fi": ("no source found", ""),
        "Microsoft and OpenAI have disma": ("trimmed", "VentureBeat"),
        "OpenAI said it has reworked its": ("exact", "Constellation Research"),
        "As part of the new deal, Micros": ("trimmed", "Yahoo Finance"),
        "OpenAI signs a new infrastructu": ("partial", "TechCrunch"),
    }


def test_changes_on_27_april_2026_show_before_and_after(runner: CliRunner, bundled_store: Path) -> None:
    changes = {r["clause"]: r for r in rows(runner, bundled_store, "changes-2026-04-27")}
    assert changes["Right of first refusal"]["before"] == "ended"
    assert changes["Right of first refusal"]["beforeVersion"] == "Definitive agreement of October 2025"
    assert changes["Right of first refusal"]["after"] == "in force"
    assert changes["Right of first refusal"]["who"] == "Buildloop"
    assert changes["AGI clause"]["after"] == "ended"


def test_organizations_carry_only_verified_wikidata_ids(runner: CliRunner, bundled_store: Path) -> None:
    orgs = {r["name"]: r["wikidata"] for r in rows(runner, bundled_store, "organizations")}
    assert orgs["Microsoft"] == "Q2283" and orgs["Reuters"] == "Q130879"
    assert orgs["Financial Times"] == "" and orgs["Cohere"] == ""


def test_disagreements_find_the_revenue_share(runner: CliRunner, bundled_store: Path) -> None:
    found = rows(runner, bundled_store, "disagreements")
    assert {"Revenue share", "Revenue share, OpenAI to Microsoft"} <= {r["clause"] for r in found} | {
        r["otherClause"] for r in found
    }
    assert any(r["otherOutlet"] == "OpenAI" and r["otherStatus"] == "in force" for r in found)


def test_single_outlet_and_secondary_quotes(runner: CliRunner, bundled_store: Path) -> None:
    single = rows(runner, bundled_store, "single-outlet")
    assert {
        "clause": "Right of first refusal",
        "version": "Amendment of 27 April 2026",
        "status": "in force",
        "outlet": "Buildloop",
    } in single
    secondary = rows(runner, bundled_store, "secondary-quotes")
    assert secondary and all(r["copyKind"] != "own page" for r in secondary)
    assert "Constellation Research" not in {r["outlet"] for r in secondary}


def test_parameters_are_bound_not_pasted(runner: CliRunner, bundled_store: Path) -> None:
    reuters = rows(runner, bundled_store, "outlet-said", "-p", "outlet=id:org/reuters")
    assert reuters and {r["outletName"] for r in reuters} == {"Reuters"}
    # a literal that looks like SPARQL stays a literal
    hostile = rows(runner, bundled_store, "outlet-said", "-p", 'outlet="x> } UNION { ?s ?p ?o"')
    assert hostile == []


def test_formats(runner: CliRunner, bundled_store: Path) -> None:
    q = "SELECT ?name WHERE { ?o a schema:NewsMediaOrganization ; schema:name ?name } ORDER BY ?name LIMIT 2"
    as_json = json.loads(run(runner, bundled_store, q, "-f", "json").stdout)
    assert as_json["head"]["vars"] == ["name"]
    assert as_json["results"]["bindings"][0]["name"] == {"type": "literal", "value": "Bloomberg"}
    assert run(runner, bundled_store, q, "-f", "tsv").stdout == "name\nBloomberg\nBuildloop\n"
    assert run(runner, bundled_store, q, "-f", "nl").stdout == '{"name": "Bloomberg"}\n{"name": "Buildloop"}\n'
    assert run(runner, bundled_store, "ASK { ?s a schema:Claim }").stdout == "true\n"
    assert json.loads(run(runner, bundled_store, "ASK { ?s a schema:Claim }", "-f", "json").stdout)["boolean"] is True
    construct = "CONSTRUCT { ?o schema:name ?n } WHERE { ?o a schema:NewsMediaOrganization ; schema:name ?n }"
    assert "@prefix schema: <https://schema.org/>" in run(runner, bundled_store, construct).stdout
    assert json.loads(run(runner, bundled_store, construct, "-f", "jsonld").stdout)
    wrong = run(runner, bundled_store, construct, "-f", "csv")
    assert wrong.exit_code == ExitCode.USAGE and "returns a graph" in wrong.stderr


def test_query_from_file_and_stdin(runner: CliRunner, bundled_store: Path, tmp_path: Path) -> None:
    q = "SELECT (COUNT(*) AS ?n) WHERE { ?c a schema:Claim }"
    path = tmp_path / "count.rq"
    path.write_text(q, encoding="utf-8")
    from_file = run(runner, bundled_store, str(path), "-f", "csv")
    from_stdin = run(runner, bundled_store, "-", "-f", "csv", stdin=q)
    assert from_file.stdout == from_stdin.stdout and from_file.stdout.startswith("n\n")


def test_syntax_error_is_one_error_line_with_a_caret(runner: CliRunner, bundled_store: Path) -> None:
    result = run(runner, bundled_store, "SELECT ?x WHERE {\n  ?x schema:name ?n\n  FILTER(\n}")
    assert result.exit_code == ExitCode.ERROR
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Error: invalid SPARQL at line 4, column 2:")
    assert lines[1] == "  }" and lines[2] == "   ^"
    assert "Traceback" not in result.stderr


def test_unknown_prefix_names_the_known_ones(runner: CliRunner, bundled_store: Path) -> None:
    result = run(runner, bundled_store, "SELECT ?x WHERE { ?x foaf:name ?n }")
    assert result.exit_code == ExitCode.ERROR
    assert "unknown prefix" in result.stderr and "schema" in result.stderr


def test_unknown_name_and_no_rows(runner: CliRunner, bundled_store: Path) -> None:
    unknown = run(runner, bundled_store, "timelines")
    assert unknown.exit_code == ExitCode.ERROR
    assert unknown.stderr == "Error: 'timelines' is not a named query, a file or SPARQL. Run 'kg query --list'\n"
    empty = run(runner, bundled_store, "SELECT ?x WHERE { ?x a schema:Nothing }")
    assert empty.exit_code == 0
    assert empty.stdout == "(no rows)\n" and "No rows" in empty.stderr


def test_empty_store_is_an_error(runner: CliRunner, tmp_path: Path) -> None:
    from kg.store import write_store

    write_store(tmp_path / "store", "")
    result = run(runner, tmp_path / "store", "claims")
    assert result.exit_code == ExitCode.ERROR
    assert "is empty. Run 'kg build'" in result.stderr


def test_rdflib_sparql_engine_never_runs(
    runner: CliRunner, bundled_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rdflib falls back to its own (much slower) engine silently; it must never be on our path."""
    from rdflib.plugins.sparql import processor

    def forbidden(*_a: object, **_k: object) -> None:
        raise AssertionError("rdflib's SPARQL engine ran")

    monkeypatch.setattr(processor.SPARQLProcessor, "query", forbidden)
    monkeypatch.setattr(processor.SPARQLUpdateProcessor, "update", forbidden)
    monkeypatch.setattr(processor, "evalQuery", forbidden, raising=False)
    for args in (
        ["query", "clause-status"],
        ["trace", "buildloop-analysis-post/rofr-retained"],
        ["audit", "-f", "json"],
        ["stats"],
    ):
        result = runner.invoke(cli, ["--store", str(bundled_store), *args])
        assert result.exit_code == 0, (args, result.stderr)
