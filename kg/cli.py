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
    if ctx.obj.get("endpoint"):
        from kg.remote import RemoteStore

        return RemoteStore(ctx.obj["endpoint"], timeout=float(os.environ.get("KG_ENDPOINT_TIMEOUT") or 60))
    from kg.store import Store

    return Store(ctx.obj["store"])


@click.group(cls=KgGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kg")
@click.option("--store", "store_path", type=click.Path(file_okay=False, path_type=Path),
              default=Path(".kg/store"), envvar="KG_STORE", show_default=True,
              help="Directory of the graph store (env KG_STORE).")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors (or KG_DEBUG=1).")
@click.option("--endpoint", metavar="URL", envvar="KG_ENDPOINT", default=None,
              help="Read from this SPARQL 1.1 endpoint instead of --store (env KG_ENDPOINT); see docs/endpoints.md.")
@click.pass_context
def cli(ctx: click.Context, store_path: Path, debug: bool, endpoint: str | None) -> None:
    """Trace news claims about the OpenAI–Microsoft partnership back to their sources.

    \b
    Example:
        kg build sources/ && kg audit
    """
    ctx.obj = {"store": store_path, "debug": debug, "endpoint": endpoint}


@cli.command()
@click.argument("sources_dir", type=click.Path(path_type=Path), default=Path("sources"))
@click.option("--dump", "dump_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the canonical N-Quads dump [default: beside the store, dataset.nq].")
@click.option("--shapes", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="SHACL shapes to validate with [default: ontology/shapes.ttl].")
@click.option("--full", is_flag=True, help="Rebuild everything, ignoring the cache of the last build.")
@click.pass_context
def build(ctx: click.Context, sources_dir: Path, dump_path: Path | None, shapes: Path | None, full: bool) -> None:
    """Check the records in SOURCES_DIR, validate them, and replace the store and the dump.

    On any error the previous store and dump stay as they were.

    After the first build, builds are incremental: a cache beside the store (STORE.cache) remembers
    each record file, so only changed, added and deleted records are re-read and re-validated, and
    the store and the dump are changed by the difference, giving the same bytes as a full build.
    A change of kg, the ontology, the shapes, the sources folder or the dump makes a full build;
    --full forces one.

    \b
    Example:
        kg build sources/
        kg build sources/ --full
    """
    from kg.pipeline import build as run_build

    store_path: Path = ctx.obj["store"]
    summary = run_build(sources_dir, store_path=store_path,
                        dump_path=dump_path or store_path.parent / "dataset.nq",
                        shapes=shapes, full=full, progress=_progress)
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
    from kg.validate import validate_store

    store = _store(ctx)
    report = validate_store(store, shapes=shapes or default_shapes())
    if report.conforms:
        click.echo(f"Conforms: {store.count()} quads checked against {shapes or 'ontology/shapes.ttl'}.")
        return
    _write(format_rows(report.violations, fmt))
    ctx.exit(ExitCode.CHECK_FAILED)


ROW_FORMATS = ("table", "csv", "tsv", "json", "nl")
GRAPH_FORMATS = ("turtle", "nt", "jsonld")


def _read_query(text: str) -> tuple[str, str]:
    """(SPARQL text, where it came from) for a named query, a file, '-' or inline SPARQL."""
    from kg.queries import is_name, load

    if text == "-":
        return click.get_text_stream("stdin").read(), "<stdin>"
    if is_name(text):
        return load(text), text
    path = Path(text)
    if path.suffix in (".rq", ".sparql") or (path.exists() and path.is_file()):
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except (OSError, UnicodeDecodeError) as e:
            raise click.ClickException(f"{path}: cannot read the query: {e}. Pass a UTF-8 .rq file") from e
    if "{" in text or text.strip().upper().startswith(("SELECT", "ASK", "CONSTRUCT", "DESCRIBE", "PREFIX")):
        return text, "<argument>"
    raise click.ClickException(f"{text!r} is not a named query, a file or SPARQL. Run 'kg query --list'")


def _params(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.isidentifier():
            raise click.BadParameter(f"{pair!r}: write NAME=VALUE, e.g. clause=id:clause/rofr", param_hint="--param")
        out[name] = value
    return out


@cli.command()
@click.argument("query_text", metavar="[NAME|FILE|-|SPARQL]", required=False)
@click.option("--list", "list_", is_flag=True, help="List the named queries with a description.")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Bind ?NAME (repeatable): <iri>, an http(s) IRI, prefix:name (id:clause/rofr), or text.")
@click.option("-f", "--format", "fmt", type=click.Choice(ROW_FORMATS + GRAPH_FORMATS), default=None,
              help="table|csv|tsv|json|nl for SELECT and ASK [table]; turtle|nt|jsonld for CONSTRUCT [turtle].")
@click.pass_context
def query(ctx: click.Context, query_text: str | None, list_: bool, params: tuple[str, ...], fmt: str | None) -> None:
    """Run SPARQL on the store: a named query, a .rq file, '-' for stdin, or the query itself.

    Prefixes schema:, prov:, oa:, cito:, skos:, adms:, dcterms:, np:, kg: and id: are predeclared.
    JSON output of SELECT and ASK is SPARQL 1.1 Query Results JSON.

    \b
    Example:
        kg query --list
        kg query clause-status -f csv
        kg query outlets-on-clause -p clause=id:clause/rofr
        kg query 'SELECT ?name WHERE { ?o a schema:NewsMediaOrganization ; schema:name ?name }'
    """
    from kg.output import format_rows, sparql_json
    from kg.queries import list_queries

    if list_:
        from kg.model import Rows

        rows = Rows(["name", "description"], [[n, d] for n, d in list_queries()])
        _write(format_rows(rows, fmt if fmt in ROW_FORMATS else "table"))
        return
    if query_text is None:
        raise click.UsageError("give a query (a name, a file, '-' or SPARQL), or --list")
    sparql, origin = _read_query(query_text)
    store = _store(ctx)
    result = store.query(sparql, params=_params(params))
    if result.kind == "graph":
        from kg.store import convert_graph

        if fmt in ROW_FORMATS:
            raise click.UsageError(f"{origin} returns a graph: use -f turtle, nt or jsonld")
        _write(convert_graph(result.ntriples, fmt or "turtle"))
        return
    if fmt in GRAPH_FORMATS:
        raise click.UsageError(f"{origin} returns {'rows' if result.kind == 'select' else 'a boolean'}: "
                               f"use -f {', '.join(ROW_FORMATS)}")
    fmt = fmt or "table"
    if result.kind == "ask":
        _write(sparql_json(result) if fmt in ("json", "nl") else f"{str(result.boolean).lower()}\n")
        return
    if not result.terms and store.is_empty():
        raise click.ClickException(f"the store at {store.path} is empty. Run 'kg build' to fill it")
    _write(format_rows(result.rows(), fmt, sparql_json=sparql_json(result) if fmt == "json" else None))
    if not result.terms:
        click.echo(f"No rows: {origin} matched nothing.", err=True)


@cli.command()
@click.argument("ref", required=False)
@click.option("--source", "source_ref", metavar="ID", help="List everything a source supports or disputes.")
@click.option("-f", "--format", "fmt", type=click.Choice(["tree", "json"]), default="tree", show_default=True,
              help="A readable tree, or JSON with stable keys (see README).")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the trace as an interactive HTML view to this file.")
@click.pass_context
def trace(ctx: click.Context, ref: str | None, source_ref: str | None, fmt: str, html_path: Path | None) -> None:
    """Trace a claim or quote (by id, IRI or text) to the quotes, sources and outlets it rests on.

    A text that matches several claims or quotes lists them so you can pick one id.

    \b
    Example:
        kg trace buildloop-analysis-post/rofr-retained
        kg trace "right of first refusal" -f json
        kg trace --source yahoo-finance-renegotiated-2026-04-27
    """
    import json

    from kg.tracing import trace as trace_claim
    from kg.tracing import trace_source
    from kg.tree import render_trace

    if (ref is None) == (source_ref is None):
        raise click.UsageError("give a claim or quote (REF), or --source ID, but not both")
    store = _store(ctx)
    tree = trace_source(store, source_ref) if source_ref else trace_claim(store, str(ref))
    text = json.dumps(tree, indent=2, ensure_ascii=False) + "\n" if fmt == "json" else render_trace(tree)
    if html_path is not None:
        from kg.trace_view import write_trace_view

        write_trace_view(store, tree, html_path)
        click.echo(f"Wrote {html_path}", err=True)
    _write(text)


@cli.command()
@click.option("--source", "source_ref", metavar="ID", default=None,
              help="The analysis to audit [default: the only analysis in the store].")
@click.option("-f", "--format", "fmt", type=click.Choice(["tree", "json"]), default="tree", show_default=True,
              help="A readable tree, or JSON with stable keys (see README).")
@click.option("--strict", is_flag=True, help="Exit 3 when any claim has a finding (for pipelines).")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the audit as an interactive HTML view (claims coloured by verdict).")
@click.pass_context
def audit(ctx: click.Context, source_ref: str | None, fmt: str, strict: bool, html_path: Path | None) -> None:
    """Give every claim of an analysis a verdict, with the evidence that leads to it.

    Verdicts come from a closed scheme (kg:VerdictScheme in ontology/kg.ttl) and are computed from
    the graph. They are written into the store's audit graph, so SPARQL can query them.

    \b
    Example:
        kg audit
        kg audit --source buildloop-analysis-post -f json --strict
    """
    import datetime as dt
    import json

    from kg.auditing import audit as run_audit
    from kg.auditing import audit_graph_iri, audit_nquads
    from kg.store import build_lock, replace_graph
    from kg.tree import render_audit

    store_path: Path = ctx.obj["store"]
    store = _store(ctx)
    report = run_audit(store, source_ref, traces=fmt == "json")
    text = json.dumps(report, indent=2, ensure_ascii=False) + "\n" if fmt == "json" else render_audit(report)
    when = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    del store  # release the read-only handle before writing
    if ctx.obj.get("endpoint"):  # kg never writes through --endpoint; kg push is the one way to write
        click.echo("Note: with --endpoint the verdicts are not written to the audit graph. Run 'kg audit' on "
                   "the local store and 'kg push' it to write them.", err=True)
    else:
        with build_lock(store_path):
            replace_graph(store_path, audit_graph_iri(report), audit_nquads(report, when=when))
    if html_path is not None:
        from kg.trace_view import write_audit_view

        write_audit_view(_store(ctx), report, html_path)
        click.echo(f"Wrote {html_path}", err=True)
    _write(text)
    if strict and report["summary"]["with_findings"]:
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


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 exposes the store to your network.")
@click.option("--port", type=click.IntRange(0, 65535), default=7878, show_default=True, help="Port (0: any free one).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds a query may run before it is stopped and answered with 503.")
@click.option("--max-rows", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Largest result (rows, or triples for graphs) answered; more gives 413.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Query worker processes [default: the number of cores, at most 4].")
@click.option("--allow-update", is_flag=True,
              help="Accept SPARQL Update data operations and Graph Store Protocol writes (refused with 403 otherwise).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, timeout: float, max_rows: int, workers: int | None,
          allow_update: bool) -> None:
    """Serve the store as a SPARQL 1.1 endpoint, with the named queries, views, traces and audit as pages.

    Read-only and bound to 127.0.0.1 unless told otherwise. Queries go to /sparql (GET or POST;
    JSON, XML, CSV, TSV; Turtle, N-Triples, JSON-LD). SERVICE and LOAD are always refused.
    Ctrl-C stops the server.

    \b
    Example:
        kg serve
        kg serve --port 8000 --timeout 5 --max-rows 2000
    """
    from kg.server import Server

    if ctx.obj.get("endpoint"):
        raise click.UsageError("kg serve serves the local store (--store); drop --endpoint")
    server = Server(ctx.obj["store"], host=host, port=port, timeout=timeout, max_rows=max_rows,
                    allow_update=allow_update, workers=workers)
    mode = "read-write" if allow_update else "read-only"
    click.echo(f"Serving {ctx.obj['store']} ({mode}) at {server.url}/ (SPARQL endpoint {server.url}/sparql). "
               "Press Ctrl-C to stop.", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("Stopped.", err=True)


@cli.command()
@click.option("--endpoint", "push_endpoint", metavar="URL", default=None,
              help="The server's SPARQL query endpoint [default: the global --endpoint].")
@click.option("--graph-store", "graph_store", metavar="URL", default=None,
              help="Graph Store Protocol URL: each graph is replaced by one PUT (e.g. http://host:7878/store).")
@click.option("--update", "update_url", metavar="URL", default=None,
              help="SPARQL Update URL when there is no --graph-store [default: the endpoint].")
@click.option("--dump", "dump_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The N-Quads to push [default: dataset.nq beside the store].")
@click.option("--retries", type=click.IntRange(min=0), default=3, show_default=True,
              help="Retries of a graph after a connection failure or a 5xx answer.")
@click.option("--prune", is_flag=True,
              help="Also drop the server's graphs in kg's namespace that the dump does not have (left by older "
                   "builds).")
@click.pass_context
def push(ctx: click.Context, push_endpoint: str | None, graph_store: str | None, update_url: str | None,
         dump_path: Path | None, retries: int, prune: bool) -> None:
    """Upload the built dataset to a SPARQL 1.1 server, one named graph at a time.

    Each graph is replaced whole in one request (Graph Store Protocol PUT, or DROP + INSERT DATA),
    so a failure never leaves a half-written graph and pushing twice leaves the same data. The
    triples per graph are then counted on the server and must match the dump. Graphs in kg's
    namespace that the server holds and the dump does not (a record deleted since the last push)
    are reported, and dropped with --prune; other graphs on the server are never touched.

    \b
    Example:
        kg push --endpoint http://localhost:7878/query --graph-store http://localhost:7878/store
        kg push --endpoint http://localhost:3030/kg/sparql --update http://localhost:3030/kg/update
        kg push --endpoint http://localhost:7878/query --graph-store http://localhost:7878/store --prune
    """
    from kg.push import push as run_push

    endpoint = push_endpoint or ctx.obj.get("endpoint")
    if not endpoint:
        raise click.UsageError("give the server: kg push --endpoint URL (or kg --endpoint URL push, or KG_ENDPOINT)")
    dump = dump_path or Path(ctx.obj["store"]).parent / "dataset.nq"
    try:
        data = dump.read_text(encoding="utf-8")
    except OSError as e:
        raise KgError(f"cannot read {dump}: {e.strerror or e}. Run 'kg build' first, or pass --dump") from e
    summary = run_push(data, endpoint, graph_store_url=graph_store, update_url=update_url, retries=retries,
                       progress=lambda m: click.echo(f"  {m}", err=True), prune=prune)
    click.echo(summary.line())
    if summary.stale:
        click.echo(f"Warning: the server holds {summary.stale} graphs in kg's namespace that the dump does not "
                   "have (records deleted since an earlier push?). 'kg push --prune' drops them.", err=True)
    if summary.union_default_graph is False:
        click.echo("Warning: the server's default graph is not the union of its named graphs, so kg's queries "
                   "will miss data. Configure it as docs/endpoints.md says.", err=True)


@cli.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("kg-view.html"),
              show_default=True, help="Where to write the HTML page.")
@click.option("--focus", metavar="ID_OR_IRI", default=None,
              help="Draw only the nodes around this one: an IRI or a short id such as claim/<record>/<claim>.")
@click.option("--depth", type=click.IntRange(min=0), default=1, show_default=True,
              help="How many hops around --focus.")
@click.option("--query", "query_ref", metavar="NAME_OR_FILE", default=None,
              help="Draw what a CONSTRUCT query returns: a named query (kg query --list) or a .rq file.")
@click.option("--limit", type=click.IntRange(min=1), default=500, show_default=True,
              help="Draw at most this many nodes.")
@click.option("--open", "open_page", is_flag=True, help="Open the page in the default browser afterwards.")
@click.option("--title", default=None, help="Title of the page [default: from the selection].")
@click.pass_context
def view(ctx: click.Context, output: Path, focus: str | None, depth: int, query_ref: str | None, limit: int,
         open_page: bool, title: str | None) -> None:
    """Write an interactive graph view: one HTML page that works offline and fetches nothing.

    Without --focus or --query the whole graph is drawn, up to --limit nodes. Quotes, copies and
    matches are folded into the claim or source they hang from: click a node to see its details
    and unfold them. Filter by kind and outlet, and find nodes by name, in the page.

    \b
    Example:
        kg view -o kg-view.html
        kg view --focus claim/buildloop-analysis-post/rofr-retained --depth 2 --open
        kg view --query clause-graph -o clauses.html
    """
    from kg.viewdata import from_construct, neighbourhood, resolve_node, whole_graph
    from kg.views import render_html

    if focus is not None and query_ref is not None:
        raise click.UsageError("give --focus or --query, not both")
    if depth != 1 and focus is None:
        raise click.UsageError("--depth needs --focus")
    store = _store(ctx)
    if focus is not None:
        iri = resolve_node(focus)
        graph = neighbourhood(store, iri, depth=depth, limit=limit)
        centre = graph.node(iri)
        default_title = f"Around {centre.label if centre else focus}"
    elif query_ref is not None:
        from kg.queries import is_name, load

        if is_name(query_ref):
            sparql = load(query_ref)
        elif Path(query_ref).is_file():
            try:
                sparql = Path(query_ref).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise KgError(f"{query_ref}: cannot read the query: {e}. Pass a UTF-8 .rq file") from e
        else:
            raise KgError(f"{query_ref!r} is neither a named query nor a file. Run 'kg query --list'")
        graph = from_construct(store, sparql, limit=limit)
        default_title = f"Query: {query_ref}"
    else:
        graph = whole_graph(store, limit=limit)
        default_title = "kg: the whole graph"
    if graph.omitted:
        click.echo(f"Left out {graph.omitted} nodes past --limit {limit}: {graph.left_out()}. "
                   "Narrow the view with --focus ID or --query NAME, or raise --limit.", err=True)
    html = render_html(graph, title=title or default_title)
    try:
        output.write_text(html, encoding="utf-8")
    except OSError as e:
        raise KgError(f"cannot write {output}: {e.strerror or e}. Pick another path with -o") from e
    click.echo(f"Wrote {output}: {len(graph.nodes)} nodes, {len(graph.edges)} edges")
    if open_page:
        import webbrowser

        webbrowser.open(output.resolve().as_uri())
