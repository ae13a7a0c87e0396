"""kg view in a real headless Chromium: offline, complete, clickable, and inert on hostile data.

Skipped only when no Chromium is found; with KG_REQUIRE_BROWSER=1 (CI) that is a failure instead.
Screenshots of the main views are written to docs/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, build_into
from test_views import HOSTILE, ID, trace_edges

from kg.store import Store
from kg.viewdata import ViewGraph, from_edges, whole_graph
from kg.views import render_html

pytestmark = pytest.mark.browser

SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """$KG_CHROMIUM when set (and only it), else /usr/bin/chromium or a Chromium or Chrome on PATH."""
    chosen = os.environ.get("KG_CHROMIUM")
    candidates = [chosen] if chosen else ["/usr/bin/chromium", *map(shutil.which, CANDIDATES)]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    chromium = find_chromium()
    if chromium is None:
        reason = (
            "no Chromium found ($KG_CHROMIUM, /usr/bin/chromium, or chromium, chromium-browser, google-chrome on PATH)"
        )
        if os.environ.get("KG_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason}, and KG_REQUIRE_BROWSER=1 requires the browser tests to run")
        pytest.skip(reason)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Chromium is here but Playwright is not installed: pip install -e '.[dev]'")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Opened:
    page: Any
    url: str
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # every request but the page itself

    def js(self, expression: str, arg: object = None) -> Any:
        return self.page.evaluate(expression, arg)

    def click_node(self, node_id: str) -> None:
        """A real mouse click on the canvas where vis-network draws the node."""
        self.js("(id) => kgView.network.focus(id, {scale: 1.5, animation: false})", node_id)
        self.js("() => kgView.network.redraw()")
        at = self.js("(id) => kgView.domPosition(id)", node_id)
        box = self.page.locator("[data-testid=graph] canvas").bounding_box()
        self.page.mouse.click(box["x"] + at["x"], box["y"] + at["y"])

    def text(self, testid: str) -> str:
        return str(self.page.get_by_test_id(testid).text_content() or "")

    def check_clean(self) -> None:
        assert self.errors == [], f"console errors: {self.errors}"
        assert self.dialogs == [], f"dialogs opened: {self.dialogs}"
        assert self.requests == [], f"the page fetched: {self.requests}"


@pytest.fixture
def open_view(browser: Any, tmp_path: Path) -> Iterator[Any]:
    contexts = []

    def opener(view: ViewGraph | str, *, title: str = "kg view", name: str = "view.html") -> Opened:
        """Open a view (or, to test this harness, raw HTML) from a file:// URL, watching every request."""
        path = tmp_path / name
        path.write_text(render_html(view, title=title) if isinstance(view, ViewGraph) else view, encoding="utf-8")
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        contexts.append(context)
        page = context.new_page()
        opened = Opened(page, path.as_uri())

        def route(r: Any) -> None:
            if r.request.url == opened.url:
                r.continue_()
            else:
                opened.requests.append(r.request.url)
                r.abort()

        context.route("**/*", route)

        def on_request(r: Any) -> None:
            if r.url != opened.url:
                opened.requests.append(r.url)

        def on_console(m: Any) -> None:
            if m.type == "error":
                opened.errors.append(m.text)

        def on_dialog(d: Any) -> None:
            opened.dialogs.append(d.message)
            d.dismiss()

        page.on("request", on_request)
        page.on("console", on_console)
        page.on("pageerror", lambda e: opened.errors.append(str(e)))
        page.on("dialog", on_dialog)
        page.goto(opened.url, wait_until="load")
        if not isinstance(view, ViewGraph):
            return opened
        deadline = time.monotonic() + 20
        while not page.evaluate("() => !!(window.kgView && window.kgView.ready)"):
            assert time.monotonic() < deadline, f"kgView not ready; errors: {opened.errors}"
            time.sleep(0.02)
        page.wait_for_load_state("networkidle")
        return opened

    yield opener
    for context in contexts:
        context.close()


def shoot(opened: Opened, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    opened.js("() => kgView.fit()")
    opened.page.screenshot(path=str(SCREENSHOTS / name))


def test_the_request_guard_sees_a_page_that_fetches(open_view: Any) -> None:
    opened = open_view(
        '<!DOCTYPE html><img src="http://example.invalid/a.png">'
        '<script src="https://cdn.example.invalid/x.js"></script>',
        name="fetcher.html",
    )
    assert set(opened.requests) == {"http://example.invalid/a.png", "https://cdn.example.invalid/x.js"}
    with pytest.raises(AssertionError, match="ERR_FAILED"):  # the aborted fetches are errors too
        opened.check_clean()


@pytest.fixture(scope="module")
def bundled_view(bundled_store: Path) -> ViewGraph:
    return whole_graph(Store(bundled_store))


def test_whole_graph_loads_offline_and_draws_what_was_selected(open_view: Any, bundled_view: ViewGraph) -> None:
    opened = open_view(bundled_view, title="The OpenAI–Microsoft partnership: whole graph")
    assert opened.js("() => kgView.nodeCount()") == len(bundled_view.nodes)
    assert opened.js("() => kgView.edgeCount()") == len(bundled_view.edges)
    assert opened.js("() => Object.keys(kgView.network.body.nodes).length") == len(bundled_view.nodes)
    unfolded = {n.id for n in bundled_view.nodes if n.collapsed_under is None}
    assert set(opened.js("() => kgView.visibleNodeIds()")) == unfolded
    visible_edges = {e.id for e in bundled_view.edges if e.source in unfolded and e.target in unfolded}
    assert set(opened.js("() => kgView.visibleEdgeIds()")) == visible_edges
    legend = opened.text("legend")
    assert "claim" in legend and "clause-version" in legend
    assert opened.page.get_by_test_id("filter-kind-claim").is_checked()
    opened.check_clean()
    shoot(opened, "whole-graph.png")


def test_a_real_click_shows_the_node_in_the_side_panel(open_view: Any, bundled_view: ViewGraph) -> None:
    opened = open_view(bundled_view)
    microsoft = ID + "org/microsoft"
    opened.click_node(microsoft)
    assert opened.js("() => kgView.network.getSelectedNodes()") == [microsoft]
    assert opened.text("panel-title") == "Microsoft"
    assert "organization" in opened.text("panel-kind")
    details = opened.text("panel-details")
    assert "wikidata" in details and "Q2283" in details
    link = opened.page.get_by_test_id("panel-link").locator("a")
    assert link.get_attribute("href", timeout=2000) == "http://www.wikidata.org/entity/Q2283"
    assert link.get_attribute("rel") == "noopener noreferrer" and link.get_attribute("target") == "_blank"
    opened.check_clean()


def test_clicking_a_claim_unfolds_its_quotes_sources_and_outlets(open_view: Any, bundled_view: ViewGraph) -> None:
    opened = open_view(bundled_view)
    claim = ID + "claim/techcrunch-rofr-2025-01-22/rofr-granted"
    quotes = [n.id for n in bundled_view.nodes if n.collapsed_under == claim and n.kind == "quote"]
    assert quotes, "the claim has folded quotes"
    assert not set(quotes) & set(opened.js("() => kgView.visibleNodeIds()"))
    opened.click_node(claim)
    visible = set(opened.js("() => kgView.visibleNodeIds()"))
    assert set(quotes) <= visible
    sources = {e.target for e in bundled_view.edges if e.source in quotes and e.label == "isPartOf"}
    outlets = {e.target for e in bundled_view.edges if e.source in sources and e.label == "publisher"}
    assert sources and outlets and sources | outlets <= visible
    shown_edges = set(opened.js("() => kgView.visibleEdgeIds()"))
    assert any(e.id in shown_edges for e in bundled_view.edges if e.source in quotes and e.target in sources)
    assert "Fold provenance" in opened.text("panel-toggle")
    opened.page.get_by_test_id("panel-toggle").click()
    assert not set(quotes) & set(opened.js("() => kgView.visibleNodeIds()"))
    # the analysis post's quotes unfold with their matches and the matched passages
    post_claim = ID + "claim/buildloop-analysis-post/rofr-retained"
    revealed = set(opened.js("(id) => kgView.expand(id)", post_claim))
    kinds = {n.kind for n in bundled_view.nodes if n.id in revealed}
    assert {"quote", "match"} <= kinds
    opened.check_clean()


def test_search_finds_a_folded_node_and_filters_hide_kinds_and_outlets(open_view: Any, bundled_view: ViewGraph) -> None:
    opened = open_view(bundled_view)
    labels = [n.label for n in bundled_view.nodes]
    quote = next(
        n for n in bundled_view.nodes if n.kind == "quote" and n.collapsed_under and labels.count(n.label) == 1
    )
    opened.page.get_by_test_id("search").fill(quote.label.strip("“”…").upper())
    opened.page.get_by_test_id("search").press("Enter")
    assert quote.id in opened.js("() => kgView.visibleNodeIds()")
    assert opened.text("panel-title") == quote.label
    opened.page.get_by_test_id("filter-kind-claim").uncheck()
    visible = set(opened.js("() => kgView.visibleNodeIds()"))
    assert not {n.id for n in bundled_view.nodes if n.kind == "claim"} & visible
    outlet = sorted({n.outlet for n in bundled_view.nodes if n.outlet}, key=str.casefold)[0]
    opened.page.get_by_test_id("filter-outlet-0").uncheck()
    visible = set(opened.js("() => kgView.visibleNodeIds()"))
    assert not {n.id for n in bundled_view.nodes if n.outlet == outlet} & visible
    assert opened.page.get_by_test_id("outlet-filter").is_visible()
    opened.check_clean()


def test_the_rofr_trace_shows_quote_source_outlet_and_the_superseding_event(open_view: Any,
                                                                          bundled_store: Path) -> None:
    """The trace `kg trace ... --html` draws: claim → quote → matched passage → source → outlet, and the
    October 2025 version of the clause that ended the right of first refusal."""
    from kg.trace_view import trace_view
    from kg.tracing import trace

    store = Store(bundled_store)
    claim = ID + "claim/buildloop-analysis-post/rofr-retained"
    view = trace_view(store, trace(store, "buildloop-analysis-post/rofr-retained"))
    ids = {n.id for n in view.nodes}
    assert {ID + "quote/buildloop-analysis-post/q6", ID + "quote/techcrunch-rofr-2025-01-22/rofr",
            ID + "source/techcrunch-rofr-2025-01-22", ID + "org/techcrunch",
            ID + "clause-version/rofr/definitive-2025-10-28", ID + "event/definitive-2025-10-28"} <= ids
    opened = open_view(view, title="Trace: Microsoft retains a right of first refusal")
    assert opened.js("() => kgView.nodeCount()") == len(view.nodes)
    assert opened.js("() => kgView.edgeCount()") == len(view.edges)
    assert set(opened.js("() => kgView.visibleNodeIds()")) == ids
    assert opened.text("panel-title") == view.node(claim).label  # type: ignore[union-attr]
    opened.check_clean()
    shoot(opened, "claim-trace.png")


def test_a_claim_trace_built_with_from_edges(open_view: Any, bundled_store: Path) -> None:
    store = Store(bundled_store)
    claim = ID + "claim/buildloop-analysis-post/rofr-retained"
    view = from_edges(store, trace_edges(store, claim), focus=claim)
    opened = open_view(view, title="Trace: Microsoft retains a right of first refusal")
    assert opened.js("() => kgView.nodeCount()") == len(view.nodes)
    assert set(opened.js("() => kgView.visibleNodeIds()")) == {n.id for n in view.nodes}
    opened.check_clean()


def test_hostile_corpus_runs_no_script_and_makes_no_element(open_view: Any, tmp_path: Path) -> None:
    store = tmp_path / "hostile" / "store"
    build_into(HOSTILE, store)
    view = whole_graph(Store(store))
    opened = open_view(view, title='<img src=x onerror="window.__pwned=9;alert(9)"> hostile')
    opened.page.get_by_test_id("expand-all").click()
    for node in view.nodes:
        opened.js("(id) => kgView.select(id)", node.id)
    opened.click_node(ID + "claim/hostile-article/c1")
    for needle in ("<script>", "<img", "javascript:", "</script>"):
        opened.page.get_by_test_id("search").fill(needle)
        opened.page.get_by_test_id("search").press("Enter")
    assert opened.js("() => typeof window.__pwned") == "undefined"
    assert opened.js("() => document.querySelectorAll('img, svg, iframe, object, embed, frame').length") == 0
    assert opened.js("() => document.scripts.length") == 3
    assert opened.js("() => Array.from(document.scripts).map(s => s.src)") == ["", "", ""]
    hrefs = opened.js("() => Array.from(document.querySelectorAll('[href]')).map(a => a.getAttribute('href'))")
    assert all(h.startswith(("http://", "https://")) for h in hrefs), hrefs
    assert (
        opened.js(
            "() => Array.from(document.querySelectorAll('*')).filter(e => "
            "Array.from(e.attributes).some(a => a.name.startsWith('on'))).length"
        )
        == 0
    )
    opened.js("(id) => kgView.select(id)", ID + "claim/hostile-article/c1")
    assert "<script>window.__pwned=1;alert(1)</script>" in opened.text("details-panel"), "shown as text"
    assert opened.page.title().startswith("<img src=x onerror=")
    opened.check_clean()
    shoot(opened, "hostile-corpus.png")
