"""kg audit: verdicts follow from the data, carry their evidence, and are queryable afterwards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from conftest import build_into

from kg.cli import ExitCode, cli
from kg.store import Store


def audit_json(runner: CliRunner, store: Path, *args: str) -> dict[str, Any]:
    result = runner.invoke(cli, ["--store", str(store), "audit", "-f", "json", *args])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def verdicts(report: dict[str, Any]) -> dict[str, set[str]]:
    return {c["id"].split("/", 1)[1]: {v["verdict"] for v in c["verdicts"]} for c in report["claims"]}


def finding(report: dict[str, Any], claim: str, verdict: str) -> dict[str, Any]:
    c = next(c for c in report["claims"] if c["id"].endswith("/" + claim))
    return next(v for v in c["verdicts"] if v["verdict"] == verdict)


def test_bundled_audit_reaches_the_dossier_conclusions(runner: CliRunner, bundled_store: Path) -> None:
    report = audit_json(runner, bundled_store)
    found = verdicts(report)
    # the trimmed Azure-first quote with its dropped condition (dossier §2, Q5)
    assert "qualifier-dropped" in found["primary-cloud-azure-first"]
    assert (
        "unless Microsoft cannot and chooses not to support"
        in finding(report, "primary-cloud-azure-first", "qualifier-dropped")["explanation"]
    )
    # the ROFR claim rests on January 2025 coverage and was superseded in October 2025 (§2)
    assert {"older-than-event", "superseded"} <= found["rofr-retained"]
    superseded = finding(report, "rofr-retained", "superseded")
    assert "2025-10-28" in superseded["explanation"]
    assert {e["id"] for e in superseded["evidence"]} >= {"joint-statement-2025-10-28/rofr-ended"}
    older = finding(report, "rofr-retained", "older-than-event")
    assert [e["date"] for e in older["evidence"] if e["kind"] == "source"] == ["2025-01-22"]
    # the revenue-sharing claim at odds with the companies' statements (§3.1 item 2)
    contradicted = finding(report, "revenue-share-ending", "contradicted")
    assert "the companies' own statement" in contradicted["explanation"]
    assert "openai-next-phase-2026-04-27/openai-share-to-microsoft-continues" in {
        e["id"] for e in contradicted["evidence"]
    }
    # the two quotes with no source found (Q1, Q2)
    unattributed = [
        e["id"]
        for c in report["claims"]
        for v in c["verdicts"]
        if v["verdict"] == "unattributed"
        for e in v["evidence"]
    ]
    assert sorted(unattributed) == ["buildloop-analysis-post/q1", "buildloop-analysis-post/q2"]
    # Microsoft's own models: none of the seven cited outlets supports it (§3.1 item 9)
    assert "not-in-cited-sources" in found["microsoft-own-models"]
    # and what holds up, holds up
    assert found["openai-says-any-cloud"] == {"supported-own-page"}
    assert found["licence-exclusivity-ended"] == {"supported-own-page"}
    assert report["summary_line"] == "13 claims: 2 supported, 5 with findings, 6 not checkable"


def test_every_verdict_names_its_evidence(runner: CliRunner, bundled_store: Path) -> None:
    report = audit_json(runner, bundled_store)
    for c in report["claims"]:
        assert c["trace"]["id"] == c["id"]
        for v in c["verdicts"]:
            assert v["verdict"] == "not-checkable" or v["evidence"] or "no source" in v["explanation"], (c["id"], v)


def test_verdicts_are_queryable_with_sparql_after_the_audit(runner: CliRunner, built_store: Path) -> None:
    audit_json(runner, built_store)
    rows = (
        Store(built_store)
        .select("""
        SELECT ?claim ?verdict ?when WHERE {
          ?f a kg:Finding ; kg:findingFor ?c ; kg:verdict/skos:notation ?verdict ; prov:generatedAtTime ?when ;
             prov:wasGeneratedBy ?run . ?run a kg:Audit .
          BIND(STRAFTER(STR(?c), "/claim/") AS ?claim)
        } ORDER BY ?claim ?verdict""")
        .values
    )
    assert ["blog-post/veto-kept", "superseded"] in [r[:2] for r in rows]
    assert all(r[2].endswith("Z") for r in rows)
    validated = runner.invoke(cli, ["--store", str(built_store), "validate"])
    assert validated.exit_code == 0, validated.stdout


def test_strict_exits_3_with_findings_and_summary_comes_first(runner: CliRunner, built_store: Path) -> None:
    result = runner.invoke(cli, ["--store", str(built_store), "audit", "--strict"])
    assert result.exit_code == ExitCode.CHECK_FAILED
    assert result.stdout.splitlines()[0] == "5 claims: 0 supported, 4 with findings, 1 not checkable"


def test_each_finding_appears_where_the_data_says_so(runner: CliRunner, built_store: Path) -> None:
    found = verdicts(audit_json(runner, built_store))
    assert found == {
        "fees-end": {"contradicted", "supported-own-page", "single-sourced"},
        "hosting-open": {"qualifier-dropped", "supported-own-page", "single-sourced"},
        "opinion": {"not-checkable"},
        "own-models": {"unattributed", "not-in-cited-sources"},
        "veto-kept": {"older-than-event", "superseded", "not-in-cited-sources"},
    }


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_and_disappear_where_the_data_does_not(runner: CliRunner, tmp_path: Path, fixture_sources: Path) -> None:
    # the wire states no condition: nothing was dropped
    edit(fixture_sources / "wire-2024.yaml", ' "if Acme cannot serve them first."', ".")
    # the company statement now ends fees too: no contradiction
    edit(fixture_sources / "globex-statement-2024.yaml", "status: in-force, until: 2030, capped: true", "status: ended")
    # a 2024 report says the veto stays: the 2023 change no longer has the last word
    (fixture_sources / "gazette-2024.yaml").write_text(
        (fixture_sources / "gazette-2020.yaml")
        .read_text(encoding="utf-8")
        .replace("gazette-2020", "gazette-2024")
        .replace("v2020", "v2024")
        .replace("2020-01-11", "2024-05-21")
        .replace("https://gazette.example.com/veto", "https://gazette.example.com/veto-24")
        .replace(
            'Under the first deal, Acme holds a "veto" over any new host for Globex models.',
            'Acme holds a "veto" over any new host.',
        ),
        encoding="utf-8",
    )
    edit(fixture_sources / "blog-post.yaml", "cites: [wire-2024, gazette-2020]", "cites: [wire-2024, gazette-2024]")
    build_into(fixture_sources, tmp_path / "store")
    found = verdicts(audit_json(runner, tmp_path / "store"))
    assert "qualifier-dropped" not in found["hosting-open"]
    assert "contradicted" not in found["fees-end"]
    assert "superseded" not in found["veto-kept"] and "not-in-cited-sources" not in found["veto-kept"]
    assert "supported-own-page" in found["veto-kept"]
    assert "older-than-event" not in found["veto-kept"]  # b3 now matches the 2024 report


def test_audit_of_a_source_that_is_not_an_analysis(runner: CliRunner, built_store: Path) -> None:
    result = runner.invoke(cli, ["--store", str(built_store), "audit", "--source", "wire-2024"])
    assert result.exit_code == ExitCode.ERROR
    assert result.stderr == (
        "Error: wire-2024 is not an analysis source in the store. Run 'kg query sources' to list them\n"
    )


def test_a_store_of_many_analyses_asks_for_one_and_names_a_few(runner: CliRunner, tmp_path: Path,
                                                                  fixture_sources: Path) -> None:
    post = (fixture_sources / "blog-post.yaml").read_text(encoding="utf-8")
    for n in range(13):
        (fixture_sources / f"blog-post-{n:02}.yaml").write_text(
            post.replace("id: blog-post\n", f"id: blog-post-{n:02}\n", 1), encoding="utf-8")
    build_into(fixture_sources, tmp_path / "store")
    result = runner.invoke(cli, ["--store", str(tmp_path / "store"), "audit"])
    assert result.exit_code == ExitCode.ERROR
    assert result.stderr.startswith("Error: the store holds 14 analyses (source/blog-post, source/blog-post-00, ")
    assert result.stderr.endswith(", and 2 more: 'kg query sources' lists them). Pass one with --source\n")
