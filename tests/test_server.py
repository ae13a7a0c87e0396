"""kg serve: the SPARQL 1.1 Protocol on loopback, its limits, its pages, and two independent clients."""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import rdflib
from click.testing import CliRunner
from rdflib.compare import isomorphic

from kg.cli import cli
from kg.prefixes import PREFIXES
from kg.queries import list_queries, load
from kg.server import Server
from kg.store import Store

ROOT = Path(__file__).resolve().parents[1]
COMUNICA = ROOT / "tools" / "node" / "node_modules" / ".bin" / "comunica-sparql"
SELECTS = [n for n, _ in list_queries() if "CONSTRUCT" not in load(n)]
PROLOGUE = "".join(f"PREFIX {p}: <{ns}>\n" for p, ns in PREFIXES.items())
CROSS_JOIN = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?n2 ?o }"
JSON = "application/sparql-results+json"
CLASSES = "SELECT ?class (COUNT(?s) AS ?n) WHERE { ?s a ?class } GROUP BY ?class ORDER BY DESC(?n) ?class LIMIT 5"


def required() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("KG_REQUIRE_BROWSER") == "1")


def need(available: bool, what: str) -> None:
    """In CI a missing tool fails the test; locally it skips with the reason."""
    if available:
        return
    if required():
        pytest.fail(f"{what} is missing; 'make install' installs it")
    pytest.skip(f"{what} is missing; run 'make install'")


@pytest.fixture(scope="module")
def server(bundled_store: Path) -> Iterator[Server]:
    with Server(bundled_store, port=0, timeout=120, max_rows=10_000, workers=2) as s:
        yield s


@pytest.fixture(scope="module")
def tight(bundled_store: Path) -> Iterator[Server]:
    """A server with a 1 s timeout and a 50-row cap."""
    with Server(bundled_store, port=0, timeout=1, max_rows=50, workers=1) as s:
        yield s


def call(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None,
         method: str | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, dict(r.headers), r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode("utf-8")


def get_query(s: Server, sparql: str, accept: str = JSON) -> tuple[int, dict[str, str], str]:
    return call(f"{s.url}/sparql?{urllib.parse.urlencode({'query': sparql})}", headers={"Accept": accept})


@functools.cache
def kg_rows(store: Path, name: str) -> list[list[str]]:
    result = CliRunner().invoke(cli, ["--store", str(store), "query", name, "-f", "csv"])
    assert result.exit_code == 0, result.stderr
    return list(csv.reader(io.StringIO(result.stdout)))


def json_rows(doc: dict) -> list[list[str]]:  # type: ignore[type-arg]
    columns = doc["head"]["vars"]
    return [columns] + [[b.get(c, {}).get("value", "") for c in columns] for b in doc["results"]["bindings"]]


# --- the protocol --------------------------------------------------------------------------------


def test_get_post_form_and_post_body_give_the_same_answer(server: Server) -> None:
    accept = {"Accept": "application/sparql-results+json"}
    by_get = get_query(server, CLASSES)
    form = call(f"{server.url}/sparql", data=urllib.parse.urlencode({"query": CLASSES}).encode(),
                headers={**accept, "Content-Type": "application/x-www-form-urlencoded"})
    direct = call(f"{server.url}/sparql", data=CLASSES.encode(),
                  headers={**accept, "Content-Type": "application/sparql-query"})
    assert by_get[0] == form[0] == direct[0] == 200
    assert json.loads(by_get[2]) == json.loads(form[2]) == json.loads(direct[2])
    assert json_rows(json.loads(by_get[2]))[1][0] == "http://www.w3.org/ns/prov#Entity"


@pytest.mark.parametrize(("accept", "media"), [
    ("application/sparql-results+json", "application/sparql-results+json"),
    ("application/sparql-results+xml", "application/sparql-results+xml"),
    ("text/csv", "text/csv"),
    ("text/tab-separated-values", "text/tab-separated-values"),
    ("text/csv;q=0.2, application/sparql-results+xml;q=0.9", "application/sparql-results+xml"),
])
def test_select_results_by_content_negotiation(server: Server, bundled_store: Path, accept: str, media: str) -> None:
    status, headers, body = get_query(server, CLASSES, accept)
    assert status == 200, body
    assert headers["Content-Type"].startswith(media)
    expected = Store(bundled_store).query(CLASSES).rows()
    if media.endswith("json"):
        rows = json_rows(json.loads(body))[1:]
    elif media.endswith("xml"):
        ns = {"r": "http://www.w3.org/2005/sparql-results#"}
        results = ET.fromstring(body).iter(f"{{{ns['r']}}}result")
        rows = [[b[0].text or "" for b in r.findall("r:binding", ns)] for r in results]
    elif media == "text/csv":
        assert "\r\n" in body  # the CSV results format uses CRLF
        rows = list(csv.reader(io.StringIO(body)))[1:]
    else:
        lines = body.splitlines()
        assert lines[0] == "?class\t?n"
        rows = [[c.strip("<>").split('"')[1] if c.startswith('"') else c.strip("<>") for c in line.split("\t")]
                for line in lines[1:]]
    assert rows == [[v or "" for v in row] for row in expected.values]


@pytest.mark.parametrize(("accept", "fmt"), [("text/turtle", "turtle"), ("application/n-triples", "nt"),
                                             ("application/ld+json", "json-ld")])
def test_graph_results_by_content_negotiation(server: Server, bundled_store: Path, accept: str, fmt: str) -> None:
    sparql = load("clause-graph")
    status, headers, body = get_query(server, sparql, accept)
    assert status == 200, body
    assert headers["Content-Type"].startswith(accept)
    expected = rdflib.Graph().parse(data=Store(bundled_store).query(sparql).ntriples, format="nt")
    assert len(expected) > 10
    with warnings.catch_warnings():  # rdflib 7.6's JSON-LD parser builds a deprecated ConjunctiveGraph
        warnings.simplefilter("ignore", DeprecationWarning)
        got = rdflib.Graph().parse(data=body, format=fmt)
    assert isomorphic(got, expected)


def test_ask_in_json_and_xml(server: Server) -> None:
    assert json.loads(get_query(server, "ASK { ?s a schema:Claim }")[2])["boolean"] is True
    xml = get_query(server, "ASK { ?s a schema:Nothing }", "application/sparql-results+xml")[2]
    assert "<boolean>false</boolean>" in xml


def test_service_description(server: Server) -> None:
    status, headers, body = call(f"{server.url}/sparql", headers={"Accept": "text/turtle"})
    assert status == 200 and headers["Content-Type"].startswith("text/turtle")
    g = rdflib.Graph().parse(data=body, format="turtle")
    sd = rdflib.Namespace("http://www.w3.org/ns/sparql-service-description#")
    service = next(g.subjects(rdflib.RDF.type, sd.Service))
    assert (service, sd.endpoint, rdflib.URIRef(f"{server.url}/sparql")) in g
    assert (service, sd.feature, sd.UnionDefaultGraph) in g
    assert (service, sd.supportedLanguage, sd.SPARQL11Update) not in g


def test_cors_for_browser_clients(server: Server) -> None:
    headers = get_query(server, CLASSES)[1]
    assert headers["Access-Control-Allow-Origin"] == "*"
    status, pre, _ = call(f"{server.url}/sparql", method="OPTIONS", headers={
        "Origin": "https://notebook.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert status == 204
    assert "POST" in pre["Access-Control-Allow-Methods"]
    assert "Content-Type" in pre["Access-Control-Allow-Headers"]
    assert "PUT" not in pre["Access-Control-Allow-Methods"]  # read-only


# --- refusals and limits -------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["form", "body", "graph-store"])
def test_writes_are_refused_with_403(server: Server, bundled_store: Path, how: str) -> None:
    before = Store(bundled_store).count()
    update = "INSERT DATA { GRAPH <https://example.org/x> { <https://example.org/a> <https://example.org/b> 1 } }"
    if how == "form":
        status, _, body = call(f"{server.url}/sparql", data=urllib.parse.urlencode({"update": update}).encode(),
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    elif how == "body":
        status, _, body = call(f"{server.url}/sparql", data=update.encode(),
                               headers={"Content-Type": "application/sparql-update"})
    else:
        status, _, body = call(f"{server.url}/store?graph=https://example.org/x", method="PUT",
                               data=b"<https://example.org/a> <https://example.org/b> 1 .\n",
                               headers={"Content-Type": "application/n-triples"})
    assert status == 403
    assert "read-only" in body and "--allow-update" in body
    assert Store(bundled_store).count() == before


def test_service_is_refused_but_the_word_in_a_string_is_not(server: Server) -> None:
    status, _, body = get_query(server, "SELECT * WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } }")
    assert status == 400
    assert "SERVICE is refused" in body
    escaped = "SELECT * WHERE { \\u0053ERVICE <http://example.org/sparql> { ?s ?p ?o } }"
    assert get_query(server, escaped)[0] == 400
    status, _, body = get_query(server, 'SELECT ?t WHERE { ?c schema:text ?t FILTER(CONTAINS(?t, "SERVICE")) }')
    assert status == 200, body


def test_a_slow_query_is_cut_off_and_the_server_answers_the_next(tight: Server) -> None:
    status, _, body = get_query(tight, CROSS_JOIN)
    assert status == 503
    assert "longer than this server's timeout of 1 s" in body and "--timeout" in body
    status, _, body = get_query(tight, "ASK { ?s a schema:Claim }")
    assert status == 200 and json.loads(body)["boolean"] is True


def test_results_over_the_cap_are_refused_with_a_clear_error(tight: Server) -> None:
    status, _, body = get_query(tight, "SELECT ?c WHERE { ?c a schema:Claim }")
    assert status == 413
    assert "more than this server's cap of 50" in body and "--max-rows" in body
    assert get_query(tight, "SELECT ?c WHERE { ?c a schema:Claim } LIMIT 50")[0] == 200


def test_a_syntax_error_is_a_400_with_the_position(server: Server) -> None:
    status, _, body = get_query(server, "SELEC ?x WHERE {}")
    assert status == 400 and "invalid SPARQL" in body


# --- real clients ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SELECTS)
def test_sparqlwrapper_gets_the_rows_of_kg_query(server: Server, bundled_store: Path, name: str) -> None:
    from SPARQLWrapper import JSON, POST, SPARQLWrapper

    client = SPARQLWrapper(f"{server.url}/sparql")
    client.setMethod(POST)
    client.setReturnFormat(JSON)
    client.setQuery(PROLOGUE + load(name))
    doc = client.queryAndConvert()
    assert json_rows(doc) == kg_rows(bundled_store, name)  # type: ignore[arg-type]


def test_comunica_gets_the_rows_of_kg_query(server: Server, bundled_store: Path) -> None:
    need(COMUNICA.exists() and shutil.which("node") is not None, "Comunica (tools/node, npm ci)")
    for name in SELECTS:
        out = subprocess.run([str(COMUNICA), f"sparql@{server.url}/sparql", "-q", PROLOGUE + load(name),
                              "-t", "application/sparql-results+json"], capture_output=True, text=True, timeout=120,
                             check=False)
        assert out.returncode == 0, out.stderr
        assert json_rows(json.loads(out.stdout)) == kg_rows(bundled_store, name), name


# --- pages ---------------------------------------------------------------------------------------------


def test_landing_page_links_every_named_query_and_each_runs(server: Server) -> None:
    status, headers, body = call(f"{server.url}/", headers={"Accept": "text/html"})
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    for name, _ in list_queries():
        assert f'href="/queries/{name}"' in body
        status, _, page = call(f"{server.url}/queries/{name}")
        assert status == 200, page
        assert "<table>" in page or "<pre>" in page


def test_named_query_page_binds_parameters_and_offers_csv(server: Server) -> None:
    status, _, page = call(f"{server.url}/queries/outlets-on-clause?clause=id:clause/rofr")
    assert status == 200 and "Right of first refusal" in page
    status, headers, text = call(f"{server.url}/queries/outlets-on-clause?clause=id:clause/rofr&format=csv")
    assert headers["Content-Type"].startswith("text/csv")
    assert {r["label"] for r in csv.DictReader(io.StringIO(text))} == {"Right of first refusal"}


@pytest.mark.parametrize("path", ["/view", "/view?focus=claim/buildloop-analysis-post/rofr-retained&depth=2",
                                  "/view?query=clause-graph", "/trace/buildloop-analysis-post/rofr-retained",
                                  "/audit", "/trace/buildloop-analysis-post/rofr-retained?format=text",
                                  "/audit?format=text"])
def test_views_traces_and_audit_are_offline_pages(server: Server, path: str) -> None:
    status, headers, body = call(server.url + path)
    assert status == 200, body[:300]
    assert "Content-Security-Policy" in headers
    lowered = body.lower()
    for external in ('src="http', "src='http", '<link rel="stylesheet" href="http', "@import"):
        assert external not in lowered


def test_text_in_pages_is_escaped(server: Server) -> None:
    status, _, body = call(f"{server.url}/trace?ref=%3Cscript%3Ealert(1)%3C/script%3E",
                           headers={"Accept": "text/html"})
    assert status == 404
    assert "<script>alert(1)" not in body and "&lt;script&gt;alert(1)" in body
    status, _, body = call(f"{server.url}/sparql", data=urllib.parse.urlencode(
        {"query": 'SELECT ("<b>bold</b>" AS ?x) WHERE {}'}).encode(),
        headers={"Accept": "text/html", "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and "&lt;b&gt;bold&lt;/b&gt;" in body and "<b>bold" not in body


# --- with --allow-update --------------------------------------------------------------------------------


def test_allow_update_writes_named_graphs_and_still_refuses_load(built_store: Path) -> None:
    g = "https://example.org/kg/id/graph/test-notes"
    with Server(built_store, port=0, timeout=20, allow_update=True, workers=1) as s:
        insert = f'INSERT DATA {{ GRAPH <{g}> {{ <https://example.org/a> <https://example.org/b> "x \\"y\\"" }} }}'
        status, _, body = call(f"{s.url}/sparql", data=insert.encode(),
                               headers={"Content-Type": "application/sparql-update"})
        assert status == 204, body
        ask = f'ASK {{ GRAPH <{g}> {{ <https://example.org/a> <https://example.org/b> "x \\"y\\"" }} }}'
        assert json.loads(get_query(s, ask)[2])["boolean"] is True
        status, _, body = call(f"{s.url}/store?graph={urllib.parse.quote(g)}", method="PUT",
                               data=b"<https://example.org/c> <https://example.org/d> <https://example.org/e> .\n",
                               headers={"Content-Type": "application/n-triples"})
        assert status == 204, body
        assert json.loads(get_query(s, f"ASK {{ GRAPH <{g}> {{ ?s ?p 'x \\\"y\\\"' }} }}")[2])["boolean"] is False
        status, _, body = call(f"{s.url}/store?graph={urllib.parse.quote(g)}",
                               headers={"Accept": "application/n-triples"})
        assert body == "<https://example.org/c> <https://example.org/d> <https://example.org/e> .\n"
        status, _, body = call(f"{s.url}/sparql", data=b"LOAD <http://example.org/data.ttl>",
                               headers={"Content-Type": "application/sparql-update"})
        assert status == 403 and "LOAD" in body
        assert call(f"{s.url}/store?graph={urllib.parse.quote(g)}", method="DELETE")[0] == 204
        assert json.loads(get_query(s, f"ASK {{ GRAPH <{g}> {{ ?s ?p ?o }} }}")[2])["boolean"] is False


# --- the command ---------------------------------------------------------------------------------------


def test_kg_serve_prints_its_url_and_stops_cleanly_on_ctrl_c(bundled_store: Path) -> None:
    # as run from a terminal: a background job (cmd &, as a CI runner may start the suite) inherits SIGINT ignored
    process = subprocess.Popen([sys.executable, "-m", "kg", "--store", str(bundled_store), "serve", "--port", "0",
                                "--workers", "1"], stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert "(read-only) at http://127.0.0.1:" in line, line
        url = line.split(" at ", 1)[1].split("/ ", 1)[0]
        assert json.loads(call(f"{url}/sparql?query=ASK%7B%7D")[2])["boolean"] is True
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
        assert "Stopped." in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def test_concurrent_clients_get_every_answer(bundled_store: Path) -> None:
    """A short run of bench/serve_bench.py: several clients at once, bounded in time and count, no errors."""
    from bench.serve_bench import measure

    rows = {row["name"]: row for row in measure(bundled_store, clients=4, duration=2.0, max_requests=400)}
    assert rows["serve: errors"]["value"] == 0, rows["serve: errors"]["note"]
    assert float(rows["serve: throughput, named queries mixed"]["value"]) > 0  # type: ignore[arg-type]
