"""kg trace: claims and quotes to their sources, computed quote origins, and the reverse direction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import build_into

from kg.cli import ExitCode, cli


def trace_json(runner: CliRunner, store: Path, *args: str) -> Any:
    result = runner.invoke(cli, ["--store", str(store), "trace", *args, "-f", "json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


EXPECTED_ORIGINS = {  # the dossier's findings (shared/reference/sources-dossier.md §2)
    "q1": ("none", None),
    "q2": ("none", None),
    "q3": ("trimmed", "VentureBeat"),
    "q4": ("exact", "Constellation Research"),
    "q5": ("trimmed", "Yahoo Finance"),
    "q6": ("partial", "TechCrunch"),
}


@pytest.mark.parametrize(("quote", "expected"), sorted(EXPECTED_ORIGINS.items()))
def test_each_post_quote_reaches_the_outlet_the_dossier_establishes(
    runner: CliRunner, bundled_store: Path, quote: str, expected: tuple[str, str | None]
) -> None:
    tree = trace_json(runner, bundled_store, f"buildloop-analysis-post/{quote}")
    origin = tree["quote"]["origin"]
    assert origin["kind"] == expected[0]
    found = origin["quote"]["source"]["outlet"] if origin["quote"] else None
    assert found == expected[1]


def test_trimmed_quote_shows_the_dropped_condition(runner: CliRunner, bundled_store: Path) -> None:
    result = runner.invoke(cli, ["--store", str(bundled_store), "trace", "buildloop-analysis-post/q5"])
    assert result.exit_code == 0
    assert (
        "dropped qualifier: \u201cunless Microsoft cannot and chooses not to support the necessary capabilities\u201d"
    ) in result.stdout
    assert "finstreetnews.com" in result.stdout and "(secondary)" in result.stdout


def test_claim_trace_reaches_quote_source_outlet_and_event(runner: CliRunner, bundled_store: Path) -> None:
    claim = trace_json(runner, bundled_store, "buildloop-analysis-post/rofr-retained")["claim"]
    assert set(claim) == {"iri", "id", "text", "kind", "section", "file", "line", "source", "asserts", "evidence"}
    assert claim["file"] == "sources/buildloop-analysis-post.yaml"
    assert claim["asserts"][0]["clause"] == "rofr" and claim["asserts"][0]["status"] == "in-force"
    assert claim["asserts"][0]["version"]["date"] == "2026-04-27"
    q6 = claim["evidence"][0]["quote"]
    source = q6["origin"]["quote"]["source"]
    assert source["outlet"] == "TechCrunch" and source["published"] == "2025-01-22"
    assert source["event"]["id"] == "change-2025-01-21"
    assert source["copies"][0]["kind"] == "secondary"


def test_text_search_that_matches_several_lists_them(runner: CliRunner, bundled_store: Path) -> None:
    result = runner.invoke(cli, ["--store", str(bundled_store), "trace", "right of first refusal"])
    assert result.exit_code == ExitCode.ERROR
    assert result.stderr.startswith('Error: "right of first refusal" matches ')
    assert "claim buildloop-analysis-post/rofr-retained" in result.stderr
    assert result.stderr.count("\n") == 1


def test_text_search_with_one_match_traces_it(runner: CliRunner, bundled_store: Path) -> None:
    tree = trace_json(runner, bundled_store, "expanding enterprise reach")
    assert tree["quote"]["id"] == "buildloop-analysis-post/q1"


def test_unknown_reference(runner: CliRunner, bundled_store: Path) -> None:
    result = runner.invoke(cli, ["--store", str(bundled_store), "trace", "no-such/claim"])
    assert result.exit_code == ExitCode.ERROR
    assert result.stderr.startswith('Error: no claim or quote id or text matches "no-such/claim"')


def test_reverse_trace_lists_what_a_source_supports(runner: CliRunner, bundled_store: Path) -> None:
    tree = trace_json(runner, bundled_store, "--source", "yahoo-finance-renegotiated-2026-04-27")
    supported = {(s["claim"]["id"], s["role"]) for s in tree["supports"]}
    assert (
        "buildloop-analysis-post/primary-cloud-azure-first",
        "supports (through a trimmed match of a quote)",
    ) in supported


def test_trace_follows_the_data_in_a_separate_corpus(runner: CliRunner, tmp_path: Path, fixture_sources: Path) -> None:
    """Attributions are computed: move a sentence to another source and the trace follows it."""
    build_into(fixture_sources, tmp_path / "a" / "store")
    before = trace_json(runner, tmp_path / "a" / "store", "blog-post/b2")["quote"]["origin"]
    assert (before["kind"], before["quote"]["source"]["id"]) == ("exact", "wire-2024")

    wire = fixture_sources / "wire-2024.yaml"
    wire.write_text(
        wire.read_text(encoding="utf-8")
        .replace("Under the new terms Acme will stop paying fees to Globex.", "Under the new terms fees change.")
        .replace("text: Acme will stop paying fees to Globex.", "text: fees change."),
        encoding="utf-8",
    )
    statement = fixture_sources / "globex-statement-2024.yaml"
    statement.write_text(
        statement.read_text(encoding="utf-8").replace(
            "text: Globex will continue to pay Acme fees through 2030, subject to a cap.",
            "text: Acme will stop paying fees to Globex, and Globex will continue to pay Acme fees through 2030.",
        ),
        encoding="utf-8",
    )
    build_into(fixture_sources, tmp_path / "b" / "store")
    after = trace_json(runner, tmp_path / "b" / "store", "blog-post/b2")["quote"]["origin"]
    assert (after["kind"], after["quote"]["source"]["id"]) == ("trimmed", "globex-statement-2024")
    assert after["dropped"] == [", and Globex will continue to pay Acme fees through 2030."]
    unmatched = trace_json(runner, tmp_path / "b" / "store", "blog-post/b4")["quote"]["origin"]
    assert unmatched == {"kind": "none", "score": None, "dropped": [], "drops_qualifier": False, "quote": None}
