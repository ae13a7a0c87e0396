"""Benchmarks of `kg view`: HTML rendering of a 5,000-node view, and time until the page is interactive.

``run()`` returns one dict per measurement (name, value, unit, target, ok, note). Chromium is driven
through Playwright when both are installed; otherwise that row says why it was skipped.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from kg.viewdata import ViewEdge, ViewGraph, ViewNode
from kg.views import render_html

NODES = 5_000
RENDER_TARGET_S = 1.0
INTERACTIVE_TARGET_S = 5.0
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


def synthetic_view(n: int = NODES) -> ViewGraph:
    """A view shaped like the real one: outlets, sources, claims, clause versions; quotes folded under claims."""
    nodes: list[ViewNode] = []
    edges: list[tuple[str, str, str]] = []
    base = "https://example.org/kg/id/"
    outlets = [f"{base}org/outlet-{i}" for i in range(max(2, n // 200))]
    clauses = [f"{base}clause/c{i}" for i in range(max(2, n // 250))]
    versions = [f"{base}clause-version/c{i}/v{j}" for i in range(len(clauses)) for j in range(3)]
    nodes += [
        ViewNode(o, f"Outlet {i}", "outlet", (("name", f"Outlet {i}"),), outlet=f"Outlet {i}")
        for i, o in enumerate(outlets)
    ]
    nodes += [ViewNode(c, f"Clause {i}", "clause", (("clause", f"Clause {i}"),)) for i, c in enumerate(clauses)]
    for v in versions:
        clause = v.replace("clause-version/", "clause/").rsplit("/", 1)[0]
        nodes.append(ViewNode(v, f"{clause.rsplit('/', 1)[1]} ({v[-2:]}): in force", "clause-version"))
        edges.append((v, "isVersionOf", clause))
    i = 0
    while len(nodes) < n:
        outlet = outlets[i % len(outlets)]
        name = f"Outlet {i % len(outlets)}"
        src, claim, quote = f"{base}source/s{i}", f"{base}claim/s{i}/c", f"{base}quote/s{i}/q"
        nodes.append(
            ViewNode(
                src,
                f"Headline number {i} about the partnership",
                "article",
                (("headline", f"Headline number {i}"), ("outlet", name)),
                url=f"https://example.com/{i}",
                outlet=name,
            )
        )
        nodes.append(
            ViewNode(claim, f"Claim {i}: the clause is in force", "claim", (("claim", f"Claim {i}"),), outlet=name)
        )
        nodes.append(
            ViewNode(
                quote,
                f"“Quote {i} from the article”",
                "quote",
                (("quote", f"Quote {i}"),),
                outlet=name,
                collapsed_under=claim,
            )
        )
        edges += [
            (src, "publisher", outlet),
            (claim, "appearance", src),
            (claim, "wasAttributedTo", outlet),
            (claim, "asserts: in force", versions[i % len(versions)]),
            (claim, "citesAsEvidence", quote),
            (claim, "wasDerivedFrom", quote),
            (quote, "isPartOf", src),
        ]
        i += 1
    nodes = nodes[:n]
    kept = {node.id for node in nodes}
    view_edges = [ViewEdge(f"e{k}", s, o, p) for k, (s, p, o) in enumerate(edges) if s in kept and o in kept]
    return ViewGraph(tuple(nodes), tuple(view_edges))


def bench_render(view: ViewGraph, repeats: int = 5) -> dict[str, object]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        render_html(view, title="Synthetic 5,000-node view")
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    return {
        "name": f"view: render {len(view.nodes)} nodes, {len(view.edges)} edges to HTML",
        "value": round(median, 3),
        "unit": f"s (median of {repeats})",
        "target": RENDER_TARGET_S,
        "ok": median < RENDER_TARGET_S,
        "note": f"min {min(times):.3f} s, max {max(times):.3f} s",
    }


def find_chromium() -> str | None:
    """$KG_CHROMIUM when set (and only it), else /usr/bin/chromium or a Chromium or Chrome on PATH."""
    chosen = os.environ.get("KG_CHROMIUM")
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    candidates = [chosen] if chosen else ["/usr/bin/chromium", *map(shutil.which, names)]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def bench_interactive(view: ViewGraph) -> dict[str, object]:
    """Seconds from navigation to the first drawing with window.kgView ready (layout is precomputed)."""
    name = f"view: time until interactive in headless Chromium ({len(view.nodes)} nodes)"
    chromium = find_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if chromium is None:
        return {
            "name": name,
            "value": None,
            "unit": "s",
            "target": INTERACTIVE_TARGET_S,
            "ok": None,
            "note": "skipped: no Chromium (or no Playwright) found",
        }
    with tempfile.TemporaryDirectory() as tmp:
        page_path = Path(tmp) / "view.html"
        page_path.write_text(render_html(view, title="Synthetic view"), encoding="utf-8")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            started = time.perf_counter()
            page.goto(page_path.as_uri(), wait_until="load")
            while not page.evaluate("() => !!(window.kgView && window.kgView.ready)"):
                if time.perf_counter() - started > 60:
                    break
                time.sleep(0.01)
            elapsed = time.perf_counter() - started  # loaded, drawn once, kgView ready (physics is off)
            page.wait_for_load_state("networkidle")  # then check that nothing else was fetched
            drawn = page.evaluate("() => [window.kgView.nodeCount(), window.kgView.edgeCount()]")
            browser.close()
    others = [u for u in requests if u != page_path.as_uri()]
    return {
        "name": name,
        "value": round(elapsed, 3),
        "unit": "s",
        "target": INTERACTIVE_TARGET_S,
        "ok": elapsed < INTERACTIVE_TARGET_S and not others,
        "note": f"drew {drawn[0]} nodes, {drawn[1]} edges; {len(others)} other requests",
    }


def run() -> list[dict[str, object]]:
    view = synthetic_view()
    return [bench_render(view), bench_interactive(view)]


if __name__ == "__main__":
    for row in run():
        print(row)
