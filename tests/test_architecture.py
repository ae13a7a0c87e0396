"""Heavy libraries stay in their owning modules; the CLI starts without them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

KG = Path(__file__).resolve().parents[1] / "kg"
OWNERS = {
    "click": {"cli"},
    "pyoxigraph": {"store"},
    "pyshacl": {"validate"},
    "networkx": {"analytics", "views"},
    "pyvis": {"views"},
    "yaml": {"records"},
    "jsonschema": {"records"},
    "fastjsonschema": {"records"},
    "tabulate": {"output"},
}
HEAVY = ("rdflib", "pyoxigraph", "pyshacl", "networkx", "pyvis", "yaml", "jsonschema", "fastjsonschema")


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return {n if n.startswith("kg") else n.split(".")[0] for n in found}


def test_libraries_stay_in_their_owners_and_nothing_imports_cli() -> None:
    for path in sorted(KG.rglob("*.py")):
        names = imports(path)
        for lib, owners in OWNERS.items():
            assert lib not in names or path.stem in owners, f"{path.name} imports {lib}; only {sorted(owners)} may"
        assert "kg.cli" not in names or path.stem == "__main__", f"{path.name} imports kg.cli"


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys; from click.testing import CliRunner; from kg.cli import cli; "
        "CliRunner().invoke(cli, ['--help']); "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
