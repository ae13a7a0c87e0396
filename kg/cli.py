"""The kg command line: parse arguments, call the library, write output, map errors in one place.

Heavy libraries (rdflib, pyoxigraph, pyshacl, networkx, pyvis) are imported inside the commands
that need them, so `kg --help` starts fast.
"""

from __future__ import annotations

import os
import sys
from enum import IntEnum
from pathlib import Path
from typing import Any

import click

from kg.errors import KgError


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  # KgError -> "Error: ..."
    USAGE = 2  # click's usage errors
    CHECK_FAILED = 3  # validate non-conformant; audit --strict with findings


class KgGroup(click.Group):
    """Turns any KgError raised by a command into one 'Error: ...' line and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KgError as e:
            if os.environ.get("KG_DEBUG") == "1" or (ctx.obj and ctx.obj.get("debug")):
                raise
            raise click.ClickException(str(e)) from e


def _progress(message: str) -> None:
    """Progress goes to a terminal only; piped or captured stderr stays quiet."""
    if sys.stderr.isatty():
        click.echo(f"  {message}…", err=True)


def _write(text: str) -> None:
    click.echo(text, nl=False)


def _store(ctx: click.Context) -> Any:
    from kg.store import Store

    return Store(ctx.obj["store"])


@click.group(cls=KgGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kg")
@click.option("--store", "store_path", type=click.Path(file_okay=False, path_type=Path),
              default=Path(".kg/store"), envvar="KG_STORE", show_default=True,
              help="Directory of the graph store (env KG_STORE).")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors (or KG_DEBUG=1).")
@click.pass_context
def cli(ctx: click.Context, store_path: Path, debug: bool) -> None:
    """Trace news claims about the OpenAI–Microsoft partnership back to their sources.

    \b
    Example:
        kg build sources/ && kg audit
    """
    ctx.obj = {"store": store_path, "debug": debug}


@cli.command()
@click.argument("sources_dir", type=click.Path(path_type=Path), default=Path("sources"))
@click.option("--dump", "dump_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the canonical N-Quads dump [default: beside the store, dataset.nq].")
@click.option("--shapes", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="SHACL shapes to validate with [default: ontology/shapes.ttl].")
@click.pass_context
def build(ctx: click.Context, sources_dir: Path, dump_path: Path | None, shapes: Path | None) -> None:
    """Check the records in SOURCES_DIR, validate them, and replace the store and the dump.

    On any error the previous store and dump stay as they were.

    \b
    Example:
        kg build sources/
    """
    from kg.pipeline import build as run_build

    store_path: Path = ctx.obj["store"]
    summary = run_build(sources_dir, store_path=store_path,
                        dump_path=dump_path or store_path.parent / "dataset.nq",
                        shapes=shapes, progress=_progress)
    click.echo(summary.line())


@cli.command(name="validate")
@click.option("--shapes", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="SHACL shapes [default: ontology/shapes.ttl].")
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "csv", "tsv", "json", "nl"]),
              default="table", show_default=True, help="Output format of the violations.")
@click.pass_context
def validate_cmd(ctx: click.Context, shapes: Path | None, fmt: str) -> None:
    """Check the store against the SHACL shapes; exit 3 if it does not conform.

    Each violation names the record file it came from, the focus node, the path and the message.

    \b
    Example:
        kg validate -f csv
    """
    from kg.output import format_rows
    from kg.pipeline import default_shapes
    from kg.validate import validate

    store = _store(ctx)
    report = validate(store.nquads(), shapes=shapes or default_shapes())
    if report.conforms:
        click.echo(f"Conforms: {store.count()} quads checked against {shapes or 'ontology/shapes.ttl'}.")
        return
    _write(format_rows(report.violations, fmt))
    ctx.exit(ExitCode.CHECK_FAILED)


@cli.command()
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "csv", "tsv", "json", "nl"]),
              default="table", show_default=True, help="Output format.")
@click.pass_context
def stats(ctx: click.Context, fmt: str) -> None:
    """Print counts by class and by source record.

    \b
    Example:
        kg stats
    """
    from kg.output import format_rows
    from kg.stats import counts

    tables = counts(_store(ctx))
    out = []
    for title, rows in tables:
        out.append(f"{title}\n{format_rows(rows, fmt)}" if fmt == "table" else format_rows(rows, fmt))
    _write("\n".join(out))
