"""The benchmark's synthetic corpus: deterministic, valid, and giving the matcher real work."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from click.testing import CliRunner
from conftest import ROOT

from kg.cli import ExitCode, cli

if str(ROOT) not in sys.path:  # bench/ sits beside kg/ and is not installed
    sys.path.insert(0, str(ROOT))

from bench.generate import generate, parse_size


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", triples=4000, seed=7)
    generate(tmp_path / "b", triples=4000, seed=7)
    generate(tmp_path / "c", triples=4000, seed=8)
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert files(tmp_path / "a") != files(tmp_path / "c")
    assert first.files == len(files(tmp_path / "a")) and first.analyses >= 1
    assert {"organizations.yaml", "deal-00.yaml"} <= set(files(tmp_path / "a"))


def test_the_corpus_builds_with_validation_and_is_about_the_size_asked(tmp_path: Path) -> None:
    stats = generate(tmp_path / "sources", triples=5000, seed=1)
    runner = CliRunner()
    store = str(tmp_path / "kg" / "store")
    built = runner.invoke(cli, ["--store", store, "build", str(tmp_path / "sources")])
    assert built.exit_code == ExitCode.OK, built.stderr
    triples = int(re.search(r"(\d+) triples", built.stdout)[1])  # type: ignore[index]
    assert abs(triples - 5000) / 5000 < 0.15 and abs(stats.estimated_triples - triples) / triples < 0.1
    dump = (tmp_path / "kg" / "dataset.nq").read_text(encoding="utf-8")
    kinds = set(re.findall(r"<https://example.org/kg/ns#matchKind> <https://example.org/kg/ns#(\w+)>", dump))
    assert {"ExactMatch", "TrimmedMatch", "NoMatch"} <= kinds  # the matcher has real work


def test_sizes_read_as_triple_counts() -> None:
    assert [parse_size(s) for s in ("2500", "100k", "1m", "1.5M")] == [2500, 100_000, 1_000_000, 1_500_000]
