from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from kg.cli import cli

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
GOLDEN = Path(__file__).parent / "golden"
SHARED = ROOT.parent / "shared"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden/* from current output")


@dataclass
class Golden:
    update: bool

    def check(self, name: str, actual: str) -> None:
        path = GOLDEN / name
        if self.update:
            path.parent.mkdir(exist_ok=True)
            path.write_text(actual, encoding="utf-8")
        assert path.exists(), f"{path} missing: run pytest --update-golden and review the diff"
        assert actual == path.read_text(encoding="utf-8")


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Golden:
    return Golden(update=request.config.getoption("--update-golden"))


def shapes_with(path: Path, extra: str) -> Path:
    """Write ontology/shapes.ttl with extra Turtle appended to path (a stricter or odder set of shapes)."""
    path.write_text((ROOT / "ontology" / "shapes.ttl").read_text(encoding="utf-8") + "\n" + extra, encoding="utf-8")
    return path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def build_into(sources: Path, store: Path) -> None:
    result = CliRunner().invoke(cli, ["--store", str(store), "build", str(sources)])
    assert result.exit_code == 0, result.stderr


@pytest.fixture
def fixture_sources(tmp_path: Path) -> Path:
    """A writable copy of the hand-written test corpus."""
    target = tmp_path / "sources"
    shutil.copytree(DATA / "sources", target)
    return target


@pytest.fixture
def built_store(tmp_path: Path, fixture_sources: Path) -> Path:
    store = tmp_path / "kg" / "store"
    build_into(fixture_sources, store)
    return store


@pytest.fixture(scope="session")
def bundled_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled corpus (sources/), built once per test session."""
    store = tmp_path_factory.mktemp("bundled") / "store"
    build_into(ROOT / "sources", store)
    return store
