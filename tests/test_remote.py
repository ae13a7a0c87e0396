"""kg against a SPARQL 1.1 server: kg push, then query, trace, audit and stats with --endpoint.

Servers, all on loopback, none of them kg's own engine code path:
- Oxigraph server (the `oxigraph` wheel: Rust HTTP server, Graph Store Protocol, --union-default-graph);
- rdflib-endpoint (another engine: rdflib's SPARQL evaluator, written to through SPARQL Update);
- kg serve itself, as the endpoint of `kg --endpoint`.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner

from kg.auditing import audit
from kg.cli import cli
from kg.errors import QueryError
from kg.push import push
from kg.queries import list_queries, load
from kg.remote import RemoteStore
from kg.server import Server
from kg.sparql_syntax import bind
from kg.store import Store

NAMES = [n for n, _ in list_queries()]
# rdflib's evaluator needs minutes (and gigabytes) for these: it evaluates each GRAPH ?g pattern
# against every one of the 241 named graphs for every partial solution. The others it answers fast.
RDFLIB_TOO_SLOW = {"clause-status", "disagreements", "organizations", "outlet-said", "outlets-on-clause",
                   "clause-graph"}


def required() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("KG_REQUIRE_BROWSER") == "1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                r.read()
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not come up in {seconds} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def serving(argv: list[str], probe: str) -> Iterator[None]:
    """Run a server process for the with block, from when probe answers; stop it after."""
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(probe, process)
        yield
    finally:
        stop(process)


@pytest.fixture(scope="module")
def oxigraph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An Oxigraph server with the union default graph; yields its base URL."""
    binary = Path(sys.executable).parent / "oxigraph"
    if not binary.exists():
        if required():
            pytest.fail("the oxigraph server (pip package 'oxigraph') is missing; run 'make install'")
        pytest.skip("the oxigraph server (pip package 'oxigraph') is missing; run 'make install'")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serving([str(binary), "serve", "--location", str(tmp_path_factory.mktemp("oxigraph")),
                  "--bind", f"127.0.0.1:{port}", "--union-default-graph"], f"{url}/query?query=ASK%7B%7D"):
        yield url


RDFLIB_ENDPOINT = """
import sys, uvicorn
from rdflib import Dataset
from rdflib_endpoint import SparqlEndpoint
app = SparqlEndpoint(graph=Dataset(default_union=True), enable_update=True)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


@pytest.fixture(scope="module")
def rdflib_endpoint() -> Iterator[str]:
    """An empty rdflib-endpoint with updates enabled and the union default graph; yields its URL."""
    try:
        import rdflib_endpoint  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        if required():
            pytest.fail("rdflib-endpoint is missing; run 'make install'")
        pytest.skip("rdflib-endpoint is missing; run 'make install'")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with serving([sys.executable, "-c", RDFLIB_ENDPOINT, str(port)], f"{url}?query=ASK%7B%7D"):
        yield url


def kg(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@functools.cache
def output(store: Path | None, endpoint: str | None, name: str) -> str:
    fmt = "nt" if "CONSTRUCT" in load(name) else "csv"
    where = ["--endpoint", endpoint] if endpoint else ["--store", str(store)]
    code, out, err = kg(*where, "query", name, "-f", fmt)
    assert code == 0, err
    return "".join(sorted(out.splitlines(keepends=True))) if fmt == "nt" else out


def unordered_concat(name: str, text: str) -> list[list[str]]:
    """CSV rows with each GROUP_CONCAT value's items sorted: SPARQL leaves their order to the engine."""
    concat = set(re.findall(r"GROUP_CONCAT\(.*?\)\s+AS\s+\?(\w+)", load(name), re.S))
    rows = list(csv.reader(io.StringIO(text)))
    columns = rows[0]
    return [columns] + [[", ".join(sorted(v.split(", "))) if c in concat else v
                         for c, v in zip(columns, row, strict=True)] for row in rows[1:]]


# --- Oxigraph server through the Graph Store Protocol --------------------------------------------------


@pytest.fixture(scope="module")
def snapshot(bundled_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the bundled store holds now (other tests add an audit graph to it), as N-Quads to push."""
    path = tmp_path_factory.mktemp("snapshot") / "dataset.nq"
    path.write_text(Store(bundled_store).nquads(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pushed(oxigraph: str, bundled_store: Path, snapshot: Path) -> str:
    code, out, err = kg("--store", str(bundled_store), "push", "--dump", str(snapshot), "--endpoint",
                        f"{oxigraph}/query", "--graph-store", f"{oxigraph}/store")
    assert code == 0, err
    assert re.match(r"Pushed 24\d graphs \(3\d\d\d triples\) to http", out), out
    assert "graph 1/" in err  # progress, on stderr
    return f"{oxigraph}/query"


@pytest.mark.parametrize("name", NAMES)
def test_every_named_query_gives_the_rows_of_the_embedded_store(pushed: str, bundled_store: Path, name: str) -> None:
    assert output(None, pushed, name) == output(bundled_store, None, name)


def test_pushing_twice_leaves_the_same_data(pushed: str, oxigraph: str, snapshot: Path) -> None:
    local = snapshot.read_text(encoding="utf-8")
    assert RemoteStore(pushed).nquads() == local
    code, _, err = kg("push", "--dump", str(snapshot), "--endpoint", pushed, "--graph-store", f"{oxigraph}/store")
    assert code == 0, err
    assert RemoteStore(pushed).nquads() == local
    # the SPARQL Update path replaces the same graphs with the same data too
    summary = push(local, pushed, update_url=f"{oxigraph}/update")
    assert summary.graphs >= 241 and summary.union_default_graph is True
    assert RemoteStore(pushed).nquads() == local


def test_trace_audit_stats_and_validate_run_against_the_endpoint(pushed: str, bundled_store: Path) -> None:
    claim = "buildloop-analysis-post/rofr-retained"
    for args in (["trace", claim], ["trace", claim, "-f", "json"], ["stats"], ["validate"],
                 ["trace", "--source", "yahoo-finance-renegotiated-2026-04-27"]):
        remote, local = kg("--endpoint", pushed, *args), kg("--store", str(bundled_store), *args)
        assert remote[0] == local[0] == 0, remote[2]
        assert remote[1] == local[1], args
    ambiguous = ["trace", "right of first refusal"]  # the text search binds ?needle, used in a FILTER
    assert kg("--endpoint", pushed, *ambiguous) == kg("--store", str(bundled_store), *ambiguous)
    code, out, err = kg("--endpoint", pushed, "audit", "-f", "json")
    report = audit(Store(bundled_store))  # the library: 'kg audit' would write into the shared store
    assert code == 0, err
    assert json.loads(out)["claims"] == json.loads(json.dumps(report["claims"]))
    assert "not written" in err


# --- rdflib-endpoint through SPARQL Update --------------------------------------------------------------


def test_push_by_sparql_update_to_rdflib_endpoint(rdflib_endpoint: str, bundled_store: Path, snapshot: Path) -> None:
    for _ in range(2):  # twice: the second push must leave the same data
        code, out, err = kg("push", "--dump", str(snapshot), "--endpoint", rdflib_endpoint)
        assert code == 0, err
        assert out.startswith("Pushed 24"), out
    assert RemoteStore(rdflib_endpoint).nquads() == snapshot.read_text(encoding="utf-8")
    for name in NAMES:
        if name in RDFLIB_TOO_SLOW:
            continue
        remote, local = output(None, rdflib_endpoint, name), output(bundled_store, None, name)
        assert unordered_concat(name, remote) == unordered_concat(name, local), name


# --- kg serve as the endpoint ---------------------------------------------------------------------------


def test_kg_serve_as_the_endpoint_gives_the_rows_of_the_embedded_store(bundled_store: Path) -> None:
    with Server(bundled_store, port=0, timeout=120, workers=2) as s:
        for name in NAMES:
            assert output(None, f"{s.url}/sparql", name) == output(bundled_store, None, name), name
        trace = ["trace", "buildloop-analysis-post/rofr-retained"]
        assert kg("--endpoint", f"{s.url}/sparql", *trace)[1] == kg("--store", str(bundled_store), *trace)[1]


def test_push_to_kg_serve_with_allow_update(built_store: Path, tmp_path: Path) -> None:
    dump = (built_store.parent / "dataset.nq").read_text()
    with Server(built_store, port=0, timeout=30, allow_update=True, workers=1) as s:
        push(dump, f"{s.url}/sparql", graph_store_url=f"{s.url}/store")
        push(dump, f"{s.url}/sparql")
        assert RemoteStore(f"{s.url}/sparql").nquads() == Store(built_store).nquads()


# --- failures -----------------------------------------------------------------------------------------


class FlakyGraphStore(BaseHTTPRequestHandler):
    """Takes `accept` PUTs, then either refuses (403) or goes away (closes its socket)."""

    protocol_version = "HTTP/1.1"
    accept = 3
    then = "go away"
    received: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if len(self.received) < self.accept:
            self.received.append(body.decode())
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.then == "refuse":
            message = b"Forbidden: this repository is read-only\n"
            self.send_response(403)
            self.send_header("Content-Length", str(len(message)))
            self.end_headers()
            self.wfile.write(message)
        else:
            self.close_connection = True
            threading.Thread(target=self.server.shutdown, daemon=True).start()
            assert isinstance(self.server, ThreadingHTTPServer)
            self.server.socket.close()  # the next connection is refused


def flaky(then: str) -> tuple[ThreadingHTTPServer, str]:
    handler = type("Handler", (FlakyGraphStore,), {"then": then, "received": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def test_a_server_that_goes_away_midway_gives_a_clear_error(built_store: Path) -> None:
    httpd, url = flaky("go away")
    try:
        code, out, err = kg("--store", str(built_store), "push", "--endpoint", f"{url}/query", "--graph-store",
                            f"{url}/store", "--retries", "1")
    finally:
        httpd.server_close()
    assert code == 1 and out == ""
    last = err.strip().splitlines()[-1]
    assert last.startswith("Error: push stopped at graph 4 of ")
    assert "gave up after 1 retries" in last and "graphs 1-3 of" in last and "were written" in last
    assert "rerun 'kg push': it is idempotent" in last
    assert len(httpd.RequestHandlerClass.received) == 3  # type: ignore[attr-defined]
    assert all(body.endswith(" .\n") for body in httpd.RequestHandlerClass.received)  # type: ignore[attr-defined]


def test_a_server_that_refuses_gives_its_answer_and_the_graph(built_store: Path) -> None:
    httpd, url = flaky("refuse")
    try:
        code, _, err = kg("--store", str(built_store), "push", "--endpoint", f"{url}/query", "--graph-store",
                          f"{url}/store")
    finally:
        httpd.shutdown()
        httpd.server_close()
    last = err.strip().splitlines()[-1]
    assert code == 1
    assert "push stopped at graph 4 of" in last and "403 Forbidden: Forbidden: this repository is read-only" in last
    assert "retrying" not in err  # a refusal is not retried


def test_an_endpoint_that_is_down_is_one_clear_line(bundled_store: Path) -> None:
    code, out, err = kg("--endpoint", f"http://127.0.0.1:{free_port()}/sparql", "query", "claims")
    assert code == 1 and out == ""
    assert err.startswith("Error: cannot connect to http://127.0.0.1:")
    assert "connection refused. Check that the server runs" in err and "Traceback" not in err


def test_credentials_in_the_url_are_sent_and_never_shown() -> None:
    seen: list[str] = []

    class Auth(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(self.headers.get("Authorization", ""))
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Auth)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        code, _, err = kg("--endpoint", f"http://ann:s3cret@127.0.0.1:{httpd.server_address[1]}/sparql",
                          "query", "claims")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert code == 1 and "401" in err and "s3cret" not in err
    assert seen == ["Basic YW5uOnMzY3JldA=="]


# --- binding parameters ---------------------------------------------------------------------------------


def test_parameters_are_bound_as_escaped_terms_never_as_syntax() -> None:
    hostile = 'x" } } ; DROP ALL ; SELECT * { "'
    sparql = bind("SELECT ?x WHERE { ?x schema:text ?t FILTER(CONTAINS(?t, ?needle)) }", {"needle": hostile})
    assert 'VALUES (?needle) { ("x\\" } } ; DROP ALL ; SELECT * { \\"") }' in sparql
    with pytest.raises(QueryError, match="not a valid IRI"):
        bind("SELECT ?x WHERE { ?x ?p ?o }", {"x": "<https://example.org/a> } ; DROP ALL #>"})
    with pytest.raises(QueryError, match="not a variable name"):
        bind("SELECT ?x WHERE { ?x ?p ?o }", {"x) {} #": "a"})


def test_push_reports_old_graphs_and_prune_drops_only_those(built_store: Path) -> None:
    full = built_store.parent / "dataset.nq"
    gone = "https://example.org/kg/id/graph/record/gazette-2020"
    smaller = "".join(li for li in full.read_text().splitlines(keepends=True) if not li.endswith(f"<{gone}> .\n"))
    small = built_store.parent / "small.nq"
    small.write_text(smaller, encoding="utf-8")
    other = '<https://other.example/s> <https://other.example/p> "not ours" <https://other.example/g> .\n'
    with Server(built_store, port=0, timeout=30, allow_update=True, workers=1) as s:
        endpoint = f"{s.url}/sparql"
        push(other, endpoint)  # a graph kg does not name: never dropped
        for graph_store in (None, f"{s.url}/store"):  # by SPARQL Update, then by the Graph Store Protocol
            push(full.read_text(), endpoint, graph_store_url=graph_store)
            summary = push(smaller, endpoint, graph_store_url=graph_store)
            assert (summary.stale, summary.dropped) == (1, 0)  # reported, left alone
            assert gone in RemoteStore(endpoint).graphs_under("https://example.org/kg/id/")
            summary = push(smaller, endpoint, graph_store_url=graph_store, prune=True)
            assert (summary.stale, summary.dropped) == (0, 1)
            assert RemoteStore(endpoint).nquads() == "".join(sorted({*smaller.splitlines(keepends=True), other}))
        kg("push", "--dump", str(full), "--endpoint", endpoint)
        code, _out, err = kg("push", "--dump", str(small), "--endpoint", endpoint)
        assert code == 0, err
        assert "Warning: the server holds 1 graphs in kg's namespace that the dump does not have" in err
        code, out, err = kg("push", "--dump", str(small), "--endpoint", endpoint, "--prune")
        assert code == 0, err
        assert out.strip().endswith("Dropped 1 graphs the dump no longer has.") and "Warning" not in err
