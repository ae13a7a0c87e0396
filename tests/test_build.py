"""kg build: canonical dump, nanopublication layout, standard vocabularies, atomic and locked."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner
from conftest import ROOT, build_into, shapes_with

from kg.cli import ExitCode, cli
from kg.store import Store, build_lock


def test_two_builds_give_byte_identical_dumps(tmp_path: Path) -> None:
    build_into(ROOT / "sources", tmp_path / "a" / "store")
    build_into(ROOT / "sources", tmp_path / "b" / "store")
    first = (tmp_path / "a" / "dataset.nq").read_bytes()
    assert first == (tmp_path / "b" / "dataset.nq").read_bytes()
    lines = first.decode("utf-8").split("\n")[:-1]
    assert lines == sorted(set(lines)), "the dump is sorted and has no duplicate quads"


def test_dump_equals_store_and_has_no_blank_nodes(bundled_store: Path) -> None:
    dump = (bundled_store.parent / "dataset.nq").read_text(encoding="utf-8")
    audit_graph = "<https://example.org/kg/id/graph/audit/"  # kg audit adds findings after the build
    stored = "".join(q + "\n" for q in Store(bundled_store).nquads().split("\n") if q and audit_graph not in q)
    assert stored == dump
    assert not re.search(r"(^|\s)_:", dump)


def test_build_prints_a_summary_line(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["--store", str(tmp_path / "store"), "build", str(ROOT / "sources")])
    assert result.exit_code == 0, result.stderr
    assert re.fullmatch(r"Built 18 sources, \d+ claims, \d+ quotes, \d+ triples in \d+\.\d\ds\n", result.stdout), (
        result.stdout
    )
    assert result.stderr == ""  # progress is for terminals only


def test_every_claim_is_a_nanopublication_with_four_graphs(bundled_store: Path) -> None:
    rows = Store(bundled_store).select("""
        SELECT ?np (COUNT(DISTINCT ?g) AS ?graphs) WHERE {
          GRAPH ?head { ?np a np:Nanopublication ; np:hasAssertion ?a ; np:hasProvenance ?p ;
                        np:hasPublicationInfo ?i }
          VALUES ?part { 0 1 2 3 }
          BIND(IF(?part = 0, ?head, IF(?part = 1, ?a, IF(?part = 2, ?p, ?i))) AS ?g)
        } GROUP BY ?np""")
    assert len(rows.values) >= 50
    assert {row[1] for row in rows.values} == {"4"}


def test_schema_org_and_prov_alone_list_outlets_articles_and_quotes(bundled_store: Path) -> None:
    """A SPARQL user who knows only schema.org and PROV-O can read the sources."""
    store = Store(bundled_store)
    articles = store.select("""
        PREFIX schema: <https://schema.org/>
        SELECT ?outlet ?headline ?url ?date WHERE {
          ?article a schema:NewsArticle ; schema:publisher ?o .
          ?o a schema:NewsMediaOrganization ; schema:name ?outlet .
          OPTIONAL { ?article schema:headline ?headline }
          OPTIONAL { ?article schema:url ?url }
          OPTIONAL { ?article schema:datePublished ?date }
        } ORDER BY ?outlet""").dicts()
    constellation = [a for a in articles if a["outlet"] == "Constellation Research"]
    assert constellation == [
        {
            "outlet": "Constellation Research",
            "headline": "OpenAI goes multi-cloud in amended deal with Microsoft",
            "url": "https://www.constellationr.com/insights/news/openai-goes-multi-cloud-amended-deal-microsoft",
            "date": "2026-04-27",
        }
    ]
    nyt = [a for a in articles if a["outlet"] == "The New York Times"]
    assert nyt and nyt[0]["url"] is None and nyt[0]["date"] is None  # unknown stays unknown
    quotes = store.select("""
        PREFIX schema: <https://schema.org/>
        PREFIX prov: <http://www.w3.org/ns/prov#>
        SELECT ?text ?outlet WHERE {
          ?q a schema:Quotation ; schema:text ?text ; prov:wasQuotedFrom ?article .
          ?article schema:publisher/schema:name ?outlet .
        }""").dicts()
    assert {
        "text": "now serve all of its products to customers across any cloud provider.",
        "outlet": "Constellation Research",
    } in quotes


def test_status_before_and_after_each_amendment_stays_queryable(bundled_store: Path) -> None:
    rows = Store(bundled_store).select("""
        SELECT DISTINCT ?event ?status WHERE {
          ?v dcterms:isVersionOf <https://example.org/kg/id/clause/rofr> ; prov:wasGeneratedBy ?e ; adms:status ?s .
          ?e schema:startDate ?date . BIND(STRAFTER(STR(?e), "/event/") AS ?event)
          BIND(STRAFTER(STR(?s), "#") AS ?status)
        } ORDER BY ?date ?status""")
    assert ["change-2025-01-21", "InForce"] in rows.values
    assert ["definitive-2025-10-28", "Ended"] in rows.values
    chain = Store(bundled_store).select(
        "SELECT ?new ?old WHERE { ?new prov:wasRevisionOf ?old . "
        "?new dcterms:isVersionOf <https://example.org/kg/id/clause/rofr> }"
    )
    assert len(chain.values) == 2


def test_validation_failure_keeps_the_previous_store(
    runner: CliRunner, built_store: Path, tmp_path: Path, fixture_sources: Path
) -> None:
    strict = shapes_with(
        tmp_path / "strict.ttl",
        "\nkgs:NeedsAuthor a sh:NodeShape ; sh:targetClass schema:NewsArticle ;\n"
        '  sh:property [ sh:path schema:author ; sh:minCount 1 ; sh:message "needs an author" ] .\n',
    )
    before = (built_store.parent / "dataset.nq").read_bytes()
    result = runner.invoke(cli, ["--store", str(built_store), "build", str(fixture_sources), "--shapes", str(strict)])
    assert result.exit_code == ExitCode.ERROR
    assert result.stderr.startswith("Error: sources/gazette-2020.yaml: 2 SHACL violation(s), first: needs an author")
    assert (built_store.parent / "dataset.nq").read_bytes() == before
    assert Store(built_store).count() == before.count(b"\n")
    checked = runner.invoke(cli, ["--store", str(built_store), "validate", "--shapes", str(strict), "-f", "csv"])
    assert checked.exit_code == ExitCode.CHECK_FAILED
    assert checked.stdout.splitlines() == [
        "file,focus,path,message",
        "sources/gazette-2020.yaml,https://example.org/kg/id/source/gazette-2020,"
        "https://schema.org/author,needs an author",
        "sources/wire-2024.yaml,https://example.org/kg/id/source/wire-2024,https://schema.org/author,needs an author",
    ]


def test_bundled_corpus_conforms(runner: CliRunner, bundled_store: Path) -> None:
    result = runner.invoke(cli, ["--store", str(bundled_store), "validate"])
    assert result.exit_code == ExitCode.OK, result.output
    assert result.stdout.startswith("Conforms: ")


def test_a_second_build_fails_at_once_while_one_runs(
    runner: CliRunner, built_store: Path, fixture_sources: Path
) -> None:
    with build_lock(built_store):
        result = runner.invoke(cli, ["--store", str(built_store), "build", str(fixture_sources)])
    assert result.exit_code == ExitCode.ERROR
    assert result.stderr.startswith(f"Error: another 'kg build' is writing {built_store}")
    assert Store(built_store).count() > 0


def test_read_commands_on_a_missing_store_say_how_to_build(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["--store", str(tmp_path / "none"), "stats"])
    assert result.exit_code == ExitCode.ERROR
    assert result.stderr == f"Error: no store at {tmp_path / 'none'}. Run 'kg build' first, or pass --store\n"
    assert result.stdout == ""


def test_line_separators_and_control_characters_survive_the_dump(tmp_path: Path, fixture_sources: Path) -> None:
    """U+2028, U+0085 and control characters are data; the dump stays one quad per line, as the store writes."""
    wire = fixture_sources / "wire-2024.yaml"
    wire.write_text(
        wire.read_text(encoding="utf-8").replace(
            "text: Acme and Globex end exclusivity", 'text: "Acme\\u2028and\\x85Globex\\vend\\texclusivity"'
        ),
        encoding="utf-8",
    )
    build_into(fixture_sources, tmp_path / "kg" / "store")
    dump = (tmp_path / "kg" / "dataset.nq").read_text(encoding="utf-8")
    assert '"Acme\u2028and\x85Globex\\u000Bend\\texclusivity"' in dump
    assert Store(tmp_path / "kg" / "store").nquads() == dump
