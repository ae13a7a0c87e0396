"""kg view without a browser: the page is self-contained and safe, selections and folding are right."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import DATA, build_into

from kg.cli import ExitCode, cli
from kg.errors import NotFoundError, QueryError
from kg.queries import load
from kg.store import Store
from kg.view_describe import safe_url
from kg.viewdata import ViewEdge, ViewGraph, ViewNode, from_construct, from_edges, neighbourhood, whole_graph
from kg.views import layout, payload, render_html, script_json

HOSTILE = DATA / "hostile"
ID = "https://example.org/kg/id/"
PROVENANCE = ("quote", "copy", "match")


class Page(HTMLParser):
    """Every start tag with its attributes, and the text of each <script> element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._in_script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = dict(attrs)
            self.scripts.append((self._in_script, ""))

    def handle_data(self, data: str) -> None:
        if self._in_script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = None


def parse(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    return parser


def data_of(page: str) -> dict[str, Any]:
    block = re.search(r'<script type="application/json" id="kg-data">(.*?)</script>', page, re.S)
    assert block, "the page has its data block"
    data: dict[str, Any] = json.loads(block[1])
    return data


@pytest.fixture(scope="module")
def bundled_view(bundled_store: Path) -> ViewGraph:
    return whole_graph(Store(bundled_store), limit=None)


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("hostile") / "store"
    build_into(HOSTILE, store)
    return store


def test_page_is_self_contained_with_no_external_reference(bundled_view: ViewGraph) -> None:
    page = render_html(bundled_view, title="Whole graph")
    parsed = parse(page)
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert [t for t, a in parsed.tags if "src" in a or "href" in a] == [], "no src= or href= anywhere in the markup"
    assert not {t for t, _ in parsed.tags} & {"link", "img", "iframe", "object", "embed", "base", "form"}
    for needle in ("cdn", "jsdelivr", "bootstrap", "@import", "url(http", "sourceMappingURL", "googleapis"):
        assert needle not in page.lower(), needle
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", page, re.I)
    kinds = [a.get("type") for a, _ in parsed.scripts]
    assert kinds == ["application/json", None, None], "one data block and two inline scripts, none with src"


def test_csp_allows_only_the_pages_own_scripts_and_style(bundled_view: ViewGraph) -> None:
    page = render_html(bundled_view, title="Whole graph")
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert meta and page.index(meta[0]) < page.index("<script"), "CSP comes before any script"
    policy = dict(d.strip().split(" ", 1) for d in meta[1].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["img-src"] == "data:" and policy["base-uri"] == "'none'"
    assert "unsafe-eval" not in meta[1] and "unsafe-inline" not in meta[1] and "connect-src" not in policy

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    parsed = parse(page)
    executable = [text for attrs, text in parsed.scripts if attrs.get("type") is None]
    assert set(policy["script-src"].split()) == {digest(t) for t in executable}
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert style and policy["style-src"] == digest(style[1])


def test_hostile_strings_stay_data(hostile_store: Path) -> None:
    view = whole_graph(Store(hostile_store))
    title = "</title><script>window.__pwned=1</script>"
    page = render_html(view, title=title)
    assert page.count("</script>") == 3, "data cannot close a <script> element"
    assert len(parse(page).scripts) == 3
    vis = parse(page).scripts[1][1]
    outside = page.replace(vis, "")  # vis-network's own code mentions "<script>" in a string
    assert outside.count("<script") == 3 and "<svg" not in outside and "<img" not in outside
    assert "<title>&lt;/title&gt;&lt;script&gt;" in page
    block = re.search(r'id="kg-data">(.*?)</script>', page, re.S)
    assert block and not re.search(r"[<>&\u2028\u2029]", block[1]), "<, >, & and U+2028/9 are escaped in JSON"
    labels = {n["label"] for n in data_of(page)["nodes"]}
    assert "<script>window.__pwned=1;alert(1)</script> Evil Corp" in labels, "text survives as text"
    assert any("</script><script>" in t for n in data_of(page)["nodes"] for _, t in n["details"])
    assert data_of(page)["title"] == title
    # javascript: only appears in text fields; no node carries it as a link
    assert all(n["url"] is None or re.match(r"https?://", n["url"]) for n in data_of(page)["nodes"])
    assert any("javascript:" in n["label"] for n in data_of(page)["nodes"])


def test_script_json_escapes_what_could_end_a_script() -> None:
    text = script_json(["</script><!--", "a & b", "\u2028\u2029"])
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == ["</script><!--", "a & b", "\u2028\u2029"]
    label = "line\u2028separator </SCRIPT > & \u2029"
    view = ViewGraph((ViewNode("urn:x", label, "claim", (("claim", label),)),), ())
    page = render_html(view, title=label)
    block = re.search(r'id="kg-data">(.*?)</script>', page, re.S)
    assert block and not re.search(r"[<>&\u2028\u2029]", block[1])
    assert data_of(page)["nodes"][0]["label"] == label


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.com/a?b=1", True),
        ("http://example.com", True),
        ("javascript:alert(1)", False),
        ("JAVASCRIPT:alert(1)", False),
        ("data:text/html,<script>", False),
        ("//evil.example.com", False),
        ("https://exa mple.com", False),
        ('https://x.com/"><script>', False),
        ("vbscript:x", False),
        (None, False),
    ],
)
def test_only_http_urls_become_links(url: str | None, ok: bool) -> None:
    assert (safe_url(url) is not None) is ok


def test_labels_are_names_never_iris(bundled_store: Path, bundled_view: ViewGraph) -> None:
    construct = from_construct(Store(bundled_store), load("clause-graph"))
    for view in (bundled_view, construct):
        for node in view.nodes:
            assert node.label.strip(), node.id
            assert not re.search(r"^\w+://|example\.org/kg|^_:", node.label), (node.id, node.label)
    names = {n.label for n in bundled_view.nodes}
    assert {"Microsoft", "OpenAI", "Right of first refusal"} <= names


def test_whole_graph_leaves_out_the_ontology_and_folds_provenance(bundled_view: ViewGraph) -> None:
    ids = {n.id for n in bundled_view.nodes}
    assert not any("/ns#" in i or i.startswith(("https://schema.org/", "http://www.w3.org/")) for i in ids)
    assert not any("/np/" in i or "/graph/" in i for i in ids), "no nanopublication or graph nodes"
    kinds = {n.kind for n in bundled_view.nodes}
    assert {"organization", "outlet", "claim", "quote", "clause", "clause-version", "event", "copy", "match"} <= kinds
    by_id = {n.id: n for n in bundled_view.nodes}
    for node in bundled_view.nodes:
        if node.kind in PROVENANCE:
            assert node.collapsed_under in by_id, node.id
        if node.collapsed_under:
            assert by_id[node.collapsed_under].collapsed_under is None, "folded one level only"
            assert by_id[node.collapsed_under].kind in ("claim", "article", "announcement", "analysis", "event")
    top = {n.kind for n in bundled_view.nodes if n.collapsed_under is None}
    assert {"organization", "clause-version", "clause", "claim"} <= top and not top & set(PROVENANCE)
    edges = {(e.source, e.label, e.target) for e in bundled_view.edges}
    assert any(label.startswith("asserts: ") for _, label, _ in edges), "claims link to the versions they assert"
    assert len({e.id for e in bundled_view.edges}) == len(bundled_view.edges)


def test_node_cap_keeps_the_structure_and_counts_the_rest(bundled_store: Path, bundled_view: ViewGraph) -> None:
    capped = whole_graph(Store(bundled_store), limit=60)
    assert len(capped.nodes) == 60
    assert capped.omitted == len(bundled_view.nodes) - 60
    assert sum(n for _, n in capped.omitted_by_kind) == capped.omitted
    kept = {n.id for n in capped.nodes}
    assert all(e.source in kept and e.target in kept for e in capped.edges)
    assert {n.kind for n in capped.nodes} >= {"organization", "clause", "clause-version"}
    assert not {n.kind for n in capped.nodes} & {"quote", "copy"}, "provenance goes first"
    assert "quote: " in capped.left_out()
    page = data_of(render_html(capped, title="capped"))
    assert "left out by the cap" in page["omitted"] and "--focus" in page["omitted"]


def test_neighbourhood_of_a_claim(bundled_store: Path) -> None:
    claim = ID + "claim/buildloop-analysis-post/rofr-retained"
    view = neighbourhood(Store(bundled_store), claim, depth=1)
    by_id = {n.id: n for n in view.nodes}
    assert view.focus == claim and by_id[claim].collapsed_under is None
    assert ID + "source/buildloop-analysis-post" in by_id
    assert any(n.kind == "clause-version" for n in view.nodes)
    assert any(n.kind == "quote" and n.collapsed_under == claim for n in view.nodes)
    wider = neighbourhood(Store(bundled_store), claim, depth=2)
    assert len(wider.nodes) > len(view.nodes)
    assert len(neighbourhood(Store(bundled_store), claim, depth=2, limit=5).nodes) == 5
    with pytest.raises(NotFoundError, match="kg query"):
        neighbourhood(Store(bundled_store), ID + "claim/nope/nothing")


def test_from_construct_draws_a_named_query(bundled_store: Path) -> None:
    view = from_construct(Store(bundled_store), load("clause-graph"))
    kinds = {n.kind for n in view.nodes}
    assert {"clause-version", "clause", "event"} <= kinds
    statuses = {n.label for n in view.nodes if n.kind == "other"}
    assert {"exclusive", "ended"} & statuses, "status concepts are named by their label"
    with pytest.raises(QueryError, match="CONSTRUCT"):
        from_construct(Store(bundled_store), "SELECT * WHERE { ?s ?p ?o } LIMIT 1")


def trace_edges(store: Store, claim: str) -> list[tuple[str, str, str]]:
    """claim → quote → (match → quote) → source → outlet → event, the way a trace view is built."""
    rows = (
        store.query(f"""
        SELECT DISTINCT ?s ?p ?o WHERE {{
          {{ <{claim}> cito:citesAsEvidence ?o . BIND(<{claim}> AS ?s) BIND(cito:citesAsEvidence AS ?p) }}
          UNION {{ <{claim}> cito:citesAsEvidence ?q . ?s kg:matchedQuote ?q .
                   BIND(?q AS ?o) BIND(kg:matchedQuote AS ?p) }}
          UNION {{ <{claim}> cito:citesAsEvidence ?q . ?m kg:matchedQuote ?q ; kg:candidate ?o .
                   BIND(?m AS ?s) BIND(kg:candidate AS ?p) }}
          UNION {{ <{claim}> cito:citesAsEvidence ?q . ?m kg:matchedQuote ?q ; kg:candidate ?s .
                   ?s schema:isPartOf ?o . BIND(schema:isPartOf AS ?p) }}
          UNION {{ <{claim}> cito:citesAsEvidence ?q . ?m kg:matchedQuote ?q ; kg:candidate/schema:isPartOf ?s .
                   VALUES ?p {{ schema:publisher schema:about }} ?s ?p ?o }}
        }}""")
        .rows()
        .values
    )
    return [(str(s), str(p), str(o)) for s, p, o in rows]


def test_from_edges_builds_a_trace_that_shows_every_step(bundled_store: Path) -> None:
    store = Store(bundled_store)
    claim = ID + "claim/buildloop-analysis-post/rofr-retained"
    edges = trace_edges(store, claim)
    view = from_edges(store, edges, tags={claim: "supported by an own page"}, focus=claim)
    kinds = {n.kind for n in view.nodes}
    assert {"claim", "quote", "match", "outlet"} <= kinds and kinds & {"article", "announcement"}
    assert all(n.collapsed_under is None for n in view.nodes), "a trace folds nothing by default"
    assert {e.label for e in view.edges} >= {"citesAsEvidence", "candidate", "publisher"}
    assert view.node(claim) and view.node(claim).tag == "supported by an own page"  # type: ignore[union-attr]
    assert data_of(render_html(view, title="trace"))["tags"][0]["tag"] == "supported by an own page"


def test_parallel_edges_are_curved_apart(bundled_view: ViewGraph) -> None:
    edges = data_of(render_html(bundled_view, title="x"))["edges"]
    pairs: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for e in edges:
        a, b = sorted((e["from"], e["to"]))
        curve = e["smooth"] or {"type": "straight", "roundness": 0.0}
        side = curve["type"]
        if e["from"] != a:  # seen from a to b, a clockwise curve from b bends the other way
            side = {"curvedCW": "curvedCCW", "curvedCCW": "curvedCW"}.get(side, side)
        pairs.setdefault((a, b), []).append((side, curve["roundness"]))
    parallel = [s for s in pairs.values() if len(s) > 1]
    assert parallel, "claims cite and derive from the same quote: two edges"
    for curves in parallel:
        assert len(set(curves)) == len(curves), f"each parallel edge has its own curve: {curves}"


def test_layout_is_precomputed_deterministic_and_physics_free(bundled_view: ViewGraph) -> None:
    first, second = layout(bundled_view), layout(bundled_view)
    assert first == second and set(first) == {n.id for n in bundled_view.nodes}
    assert all(math.isfinite(x) and math.isfinite(y) for x, y in first.values())
    top = [first[n.id] for n in bundled_view.nodes if n.collapsed_under is None]
    assert len(set(top)) == len(top), "no two unfolded nodes on the same spot"
    assert "physics: false" in render_html(bundled_view, title="x")


def test_render_handles_an_empty_and_a_tiny_view() -> None:
    assert data_of(render_html(ViewGraph((), ()), title="empty"))["nodes"] == []
    view = ViewGraph(
        (ViewNode("urn:a", "A", "claim"), ViewNode("urn:b", "B", "weird-kind")),
        (ViewEdge("e0", "urn:a", "urn:b", "x"), ViewEdge("e1", "urn:a", "urn:a", "self")),
    )
    nodes: Any = payload(view, title="t")["nodes"]
    assert [n["kind"] for n in nodes] == ["claim", "other"]


@pytest.mark.parametrize(("require", "outcome", "code"), [("0", "1 skipped", 0), ("1", "1 error", 1)])
def test_browser_tests_skip_without_chromium_unless_required(require: str, outcome: str, code: int) -> None:
    """Locally a missing Chromium skips the browser tests; with KG_REQUIRE_BROWSER=1 (CI) it fails the run."""
    env = {**os.environ, "KG_CHROMIUM": "/nonexistent/chromium", "KG_REQUIRE_BROWSER": require}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rsf",
            "-p",
            "no:cacheprovider",
            str(Path(__file__).parent / "test_view_browser.py"),
            "-k",
            "request_guard",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parents[1],
        check=False,
    )
    assert outcome in result.stdout and result.returncode == code, result.stdout[-2000:]
    assert "no Chromium found" in result.stdout


def test_cli_view_writes_the_page_and_one_line(
    runner: CliRunner, bundled_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["--store", str(bundled_store), "view"])
    assert result.exit_code == ExitCode.OK, result.stderr
    assert re.fullmatch(r"Wrote kg-view\.html: \d+ nodes, \d+ edges\n", result.stdout)
    assert (tmp_path / "kg-view.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert opened == [] and result.stderr == ""
    out = tmp_path / "focus.html"
    result = runner.invoke(
        cli,
        [
            "--store",
            str(bundled_store),
            "view",
            "--focus",
            "claim/buildloop-analysis-post/rofr-retained",
            "--depth",
            "2",
            "-o",
            str(out),
            "--open",
            "--title",
            "Trace <b>",
        ],
    )
    assert result.exit_code == ExitCode.OK, result.stderr
    assert opened == [out.resolve().as_uri()]
    assert "<title>Trace &lt;b&gt;</title>" in out.read_text(encoding="utf-8")


def test_cli_view_cap_query_and_errors(runner: CliRunner, bundled_store: Path, tmp_path: Path) -> None:
    base = ["--store", str(bundled_store), "view", "-o", str(tmp_path / "v.html")]
    capped = runner.invoke(cli, [*base, "--limit", "10"])
    assert capped.exit_code == ExitCode.OK and "10 nodes" in capped.stdout
    assert "Left out" in capped.stderr and "--focus" in capped.stderr and "--query" in capped.stderr
    query = runner.invoke(cli, [*base, "--query", "clause-graph"])
    assert query.exit_code == ExitCode.OK and query.stdout.startswith("Wrote ")
    rq = tmp_path / "q.rq"
    rq.write_text("CONSTRUCT { ?c a schema:Claim } WHERE { ?c a schema:Claim } LIMIT 3", encoding="utf-8")
    assert runner.invoke(cli, [*base, "--query", str(rq)]).stdout.startswith("Wrote ")
    for args, message in (
        (["--focus", "claim/nope/nothing"], "no node"),
        (["--focus", "not an id"], "kg query"),
        (["--query", "claims"], "CONSTRUCT"),
        (["--query", "no-such-query"], "kg query --list"),
    ):
        result = runner.invoke(cli, [*base, *args])
        assert result.exit_code == ExitCode.ERROR, args
        assert result.stderr.startswith("Error: ") and message in result.stderr and "Traceback" not in result.stderr
    assert runner.invoke(cli, [*base, "--focus", "x/y", "--query", "clause-graph"]).exit_code == ExitCode.USAGE
