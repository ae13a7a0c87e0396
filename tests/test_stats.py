"""kg stats: counts by class and source, corroboration by independent outlets, central nodes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from click.testing import CliRunner

from kg.cli import cli


def test_stats_tables(runner: CliRunner, built_store: Path) -> None:
    result = runner.invoke(cli, ["--store", str(built_store), "stats"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("By class\n")
    for title in ("By source", "Corroboration: independent outlets", "Most central organizations and clauses"):
        assert title in result.stdout


def test_corroboration_counts_each_outlet_once(runner: CliRunner, fixture_sources: Path, tmp_path: Path) -> None:
    """A second story by the same outlet repeating a claim does not add an independent outlet."""
    from conftest import build_into

    copy = (fixture_sources / "wire-2024.yaml").read_text(encoding="utf-8")
    (fixture_sources / "wire-2024-follow-up.yaml").write_text(
        copy.replace("id: wire-2024\n", "id: wire-2024-follow-up\n").replace("acme-globex-2024", "acme-globex-2024-2"),
        encoding="utf-8",
    )
    build_into(fixture_sources, tmp_path / "store")
    result = runner.invoke(cli, ["--store", str(tmp_path / "store"), "stats", "-f", "csv"])
    assert result.exit_code == 0, result.stderr
    hosting = next(line for line in result.stdout.splitlines() if line.startswith("Hosting exclusivity: non-exclusive"))
    assert next(csv.reader(io.StringIO(hosting)))[1:] == ["1", "The Daily Wire Service"]
