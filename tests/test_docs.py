"""The README shows real output: every `$ kg ...` console block is run and compared."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT

from kg.cli import cli

README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"```console\n\$ (kg [^\n]*)\n(.*?)```", re.S)


def normalize(text: str) -> str:
    return re.sub(r" in \d+\.\d\ds$", " in N.NNs", text, flags=re.M)


def test_readme_console_blocks_show_real_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    blocks = BLOCK.findall(README)
    assert len(blocks) >= 8
    for command, expected in blocks:
        args = shlex.split(command)[1:]
        result = runner.invoke(cli, ["--store", str(tmp_path / "store"), *args])
        assert result.exit_code == 0, (command, result.stderr)
        actual, want = normalize(result.stdout), normalize(expected)
        if want.endswith("...\n"):
            assert actual.startswith(want[: -len("...\n")]), command
        else:
            assert actual == want, command


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help_with_an_example_and_is_in_the_readme(name: str) -> None:
    command = cli.commands[name]
    assert command.help and "Example:" in command.help
    assert f"kg {name}" in README
