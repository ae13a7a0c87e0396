"""Render a :class:`~kg.viewdata.ViewGraph` as one self-contained, offline, safe HTML page.

This module owns the drawing libraries: vis-network is read from the files pyvis ships and inlined
(no CDN, no Bootstrap, nothing fetched; pyvis's own template pulls Bootstrap from a CDN and turns
titles into HTML, so it is not used). networkx gives the structure (components, BFS) for a layout
computed here, seeded, so the page opens settled with physics off. networkx's own spring and
Kamada–Kawai layouts need numpy/scipy, which kg does not depend on, so the force-directed
refinement is a small pure-Python Fruchterman–Reingold with grid-limited repulsion.
The page is a pure function of the view: nothing is written and no browser is opened.

Safety: the page carries a Content-Security-Policy that allows only its own two scripts (by hash)
and its own style; data goes in as JSON that cannot close its ``<script>``, and the page script
puts text into the DOM with ``textContent`` only. Only http(s) URLs become links.
"""

from __future__ import annotations

import base64
import hashlib
import html
import importlib.util
import json
import math
import random
import re
from collections import defaultdict
from functools import cache
from pathlib import Path

import networkx as nx

from kg.errors import KgError
from kg.view_describe import KINDS, safe_url
from kg.view_template import PAGE, SCRIPT, STYLE
from kg.viewdata import ViewGraph

VIS_VERSION = "9.1.2"
EDGE_LENGTH = 170.0
# kind -> (fill colour, border colour, vis shape, size, label font size); the legend shows colour and
# shape. The deal's structure has big labels, so a zoomed-out view still reads company → version → clause.
KIND_STYLE: dict[str, tuple[str, str, str, int, int]] = {
    "organization": ("#4e79a7", "#2f4b68", "dot", 18, 26),
    "outlet": ("#76b7b2", "#3f7a75", "dot", 14, 20),
    "article": ("#f28e2b", "#a85c12", "square", 11, 15),
    "announcement": ("#e15759", "#9b2e30", "square", 12, 16),
    "analysis": ("#b07aa1", "#744a67", "square", 13, 16),
    "claim": ("#59a14f", "#356130", "diamond", 11, 14),
    "quote": ("#edc948", "#9b8220", "triangle", 9, 12),
    "clause": ("#9c755f", "#63483a", "hexagon", 16, 24),
    "clause-version": ("#ff9da7", "#c0616c", "hexagon", 13, 20),
    "event": ("#bab0ac", "#6f6663", "star", 15, 20),
    "topic": ("#d4a6c8", "#8e5f82", "star", 13, 20),
    "copy": ("#8cd17d", "#4f8a42", "triangleDown", 7, 11),
    "match": ("#86bcb6", "#4d7f7a", "triangleDown", 9, 12),
    "finding": ("#d37295", "#8f3c5b", "diamond", 9, 12),
    "other": ("#c9c9c9", "#7f7f7f", "dot", 7, 11),
}
# Tags colour a node's fill (an audit view tags each claim with its verdict): known verdicts get a
# colour that says how bad they are, by notation or by label; other tags take the palette in turn.
VERDICT_COLOURS = {
    "supported-own-page": "#2ca02c",
    "supported by an own page": "#2ca02c",
    "supported-secondary-only": "#98df8a",
    "supported only by secondary copies": "#98df8a",
    "single-sourced": "#dbdb8d",
    "not-checkable": "#c7c7c7",
    "not checkable": "#c7c7c7",
    "older-than-event": "#ffbb78",
    "rests on a source older than the event": "#ffbb78",
    "superseded": "#ff7f0e",
    "qualifier-dropped": "#e377c2",
    "quote trimmed, qualifier dropped": "#e377c2",
    "unattributed": "#9467bd",
    "not-in-cited-sources": "#8c564b",
    "not supported by the cited sources": "#8c564b",
    "contradicted": "#d62728",
}
TAG_COLOURS = ("#1f77b4", "#17becf", "#bcbd22", "#7f7f7f", "#aec7e8", "#ff9896", "#c5b0d5", "#c49c94")


@cache
def _vis_network() -> str:
    """vis-network's standalone bundle as shipped inside the pyvis package (never fetched)."""
    spec = importlib.util.find_spec("pyvis")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        for sub in ("templates/lib", "lib"):
            path = Path(folder) / sub / f"vis-{VIS_VERSION}" / "vis-network.min.js"
            if path.is_file():
                code = path.read_text(encoding="utf-8")
                code = re.sub(r"^//# sourceMappingURL=.*$", "", code, flags=re.M)
                if re.search(r"</script|<!--", code, flags=re.I):
                    raise KgError(f"{path} contains </script or <!--, so it cannot be inlined. Reinstall pyvis 0.3.2")
                return code
    raise KgError(f"vis-network {VIS_VERSION} was not found inside the pyvis package. Reinstall kg: pip install -e .")


def script_json(value: object) -> str:
    """JSON safe inside <script>: <, >, & and U+2028/2029 are escaped, so data cannot end the element.

    >>> script_json({"t": "</script><!--"})
    '{"t":"\\\\u003c/script\\\\u003e\\\\u003c!--"}'
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _radial(graph: nx.Graph) -> dict[str, list[float]]:
    """Rings around the best-connected node, each subtree in a wedge as wide as its size."""
    root = min(graph, key=lambda n: (-graph.degree(n), n))
    kids: dict[str, list[str]] = defaultdict(list)
    depth = {root: 0}
    order = [root]
    # networkx's dispatch decorator hides that bfs_edges returns an iterator of edges
    for parent, child in nx.bfs_edges(graph, root, sort_neighbors=sorted):  # type: ignore[func-returns-value,attr-defined]
        kids[parent].append(child)
        depth[child] = depth[parent] + 1
        order.append(child)
    weight: dict[str, int] = {}
    for node in reversed(order):
        weight[node] = 1 + sum(weight[c] for c in kids[node])
    ring = [0.0]  # each ring long enough to give its nodes room
    per_ring: dict[int, int] = defaultdict(int)
    for node in order:
        per_ring[depth[node]] += 1
    for d in range(1, max(depth.values()) + 1):
        ring.append(max(ring[-1] + EDGE_LENGTH, per_ring[d] * EDGE_LENGTH * 0.5 / (2 * math.pi)))
    pos = {root: [0.0, 0.0]}
    wedge = {root: (0.0, 2 * math.pi)}
    for node in order:
        start, width = wedge[node]
        for child in kids[node]:
            share = width * weight[child] / max(weight[node] - 1, 1)
            angle, radius = start + share / 2, ring[depth[child]]
            pos[child] = [radius * math.cos(angle), radius * math.sin(angle)]
            wedge[child] = (start, share)
            start += share
    return pos


def _relax(graph: nx.Graph, pos: dict[str, list[float]], iterations: int, seed: int) -> None:
    """Fruchterman–Reingold steps; repulsion only between nodes in neighbouring grid cells."""
    names = sorted(graph)
    index = {n: i for i, n in enumerate(names)}
    rng = random.Random(seed)
    xs = [pos[n][0] + rng.uniform(-1, 1) for n in names]
    ys = [pos[n][1] + rng.uniform(-1, 1) for n in names]
    links = [(index[a], index[b]) for a, b in graph.edges()]
    k, cell = EDGE_LENGTH, 2.5 * EDGE_LENGTH
    k2 = k * k
    for step in range(iterations):
        heat = k * (1.0 - step / iterations) + 1.0
        dx, dy = [0.0] * len(names), [0.0] * len(names)
        grid: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i in range(len(names)):
            grid[(int(xs[i] // cell), int(ys[i] // cell))].append(i)
        for (gx, gy), members in grid.items():
            near = [j for ox in (-1, 0, 1) for oy in (-1, 0, 1) for j in grid.get((gx + ox, gy + oy), ())]
            for i in members:
                xi, yi, fx, fy = xs[i], ys[i], 0.0, 0.0
                for j in near:
                    if j != i:
                        ddx, ddy = xi - xs[j], yi - ys[j]
                        d2 = ddx * ddx + ddy * ddy or 0.01
                        if d2 < cell * cell:
                            f = k2 / d2
                            fx += ddx * f
                            fy += ddy * f
                dx[i] += fx
                dy[i] += fy
        for a, b in links:
            ddx, ddy = xs[a] - xs[b], ys[a] - ys[b]
            d = math.sqrt(ddx * ddx + ddy * ddy) or 0.1
            f = d / k
            dx[a] -= ddx * f
            dy[a] -= ddy * f
            dx[b] += ddx * f
            dy[b] += ddy * f
        for i in range(len(names)):
            d = math.sqrt(dx[i] * dx[i] + dy[i] * dy[i]) or 1.0
            move = min(d, heat)
            xs[i] += dx[i] / d * move
            ys[i] += dy[i] / d * move
    for n, i in index.items():
        pos[n] = [xs[i], ys[i]]


def layout(view: ViewGraph, *, seed: int = 7) -> dict[str, tuple[float, float]]:
    """Positions in pixels: unfolded nodes laid out per component; folded ones in a ring by their parent."""
    top = [n.id for n in view.nodes if n.collapsed_under is None]
    graph = nx.Graph()
    graph.add_nodes_from(top)
    graph.add_edges_from(
        (e.source, e.target) for e in view.edges if e.source in graph and e.target in graph and e.source != e.target
    )
    size = graph.number_of_nodes() + graph.number_of_edges()
    iterations = min(120, 100_000 // max(size, 1))  # a bounded cost: about 0.2 s of relaxing at most
    parts: list[tuple[dict[str, list[float]], float, float, float, float]] = []
    for component in sorted(nx.connected_components(graph), key=lambda c: (-len(c), min(c))):
        sub = graph.subgraph(component)
        pos = _radial(sub)
        if iterations and len(component) > 2:
            _relax(sub, pos, iterations, seed)
        xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
        parts.append((pos, min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)))
    placed: dict[str, tuple[float, float]] = {}
    total = sum((w + EDGE_LENGTH) * (h + EDGE_LENGTH) for _, _, _, w, h in parts)
    row_width = max(math.sqrt(total) * 1.3, EDGE_LENGTH)
    x = y = row_height = 0.0
    for pos, left, low, w, h in parts:  # shelf packing, biggest component first
        if x > 0 and x + w > row_width:
            x, y, row_height = 0.0, y + row_height + EDGE_LENGTH, 0.0
        for node, (px, py) in pos.items():
            placed[node] = (round(px - left + x, 1), round(py - low + y, 1))
        x += w + EDGE_LENGTH
        row_height = max(row_height, h)
    folded: dict[str, list[str]] = defaultdict(list)
    for n in view.nodes:
        if n.collapsed_under is not None:
            folded[n.collapsed_under].append(n.id)
    while folded:  # parents first: a node folded into a folded node rings around it in turn
        ready = [p for p in folded if p in placed] or [next(iter(folded))]
        for parent in ready:
            kids = folded.pop(parent)
            cx, cy = placed.get(parent, (0.0, 0.0))
            radius = max(EDGE_LENGTH * 0.8, 40.0 * len(kids) / (2 * math.pi))
            for i, kid in enumerate(kids):
                angle = 2 * math.pi * i / len(kids) + 0.3
                placed[kid] = (round(cx + radius * math.cos(angle), 1), round(cy + radius * math.sin(angle), 1))
    return placed


def _smooth(view: ViewGraph) -> dict[str, object]:
    """Edge id -> vis 'smooth' option: parallel edges between two nodes curve apart, one roundness each."""
    pairs: dict[tuple[str, str], list[str]] = defaultdict(list)
    ends = {e.id: (e.source, e.target) for e in view.edges}
    for e in view.edges:
        pairs[(min(e.source, e.target), max(e.source, e.target))].append(e.id)
    out: dict[str, object] = {}
    for (first, _), ids in pairs.items():
        offset = 0 if len(ids) % 2 else 1
        for i, edge_id in enumerate(ids):
            j = i + offset
            if j == 0:
                out[edge_id] = False
                continue
            clockwise = (j % 2 == 1) == (ends[edge_id][0] == first)
            out[edge_id] = {
                "enabled": True,
                "type": "curvedCW" if clockwise else "curvedCCW",
                "roundness": round(min(0.2 * ((j + 1) // 2), 0.9), 2),
            }
    return out


def payload(view: ViewGraph, *, title: str) -> dict[str, object]:
    """The data the page script reads: nodes with positions, edges with curves, legend and filters."""
    pos = layout(view)
    present = {n.kind for n in view.nodes}
    tags = sorted({n.tag for n in view.nodes if n.tag})
    outlets = sorted({n.outlet for n in view.nodes if n.outlet}, key=str.casefold)
    smooth = _smooth(view)
    omitted = ""
    if view.omitted:
        omitted = (
            f"{view.omitted} more nodes left out by the cap ({view.left_out()}). "
            "Narrow the view with --focus ID or --query NAME, or raise --limit."
        )
    return {
        "title": title,
        "focus": view.focus,
        "omitted": omitted,
        "kinds": [
            {
                "kind": k,
                "colour": KIND_STYLE[k][0],
                "border": KIND_STYLE[k][1],
                "shape": KIND_STYLE[k][2],
                "size": KIND_STYLE[k][3],
                "font": KIND_STYLE[k][4],
            }
            for k in KINDS
            if k in present
        ],
        "tags": [
            {"tag": t, "colour": VERDICT_COLOURS.get(t) or TAG_COLOURS[i % len(TAG_COLOURS)]}
            for i, t in enumerate(tags)
        ],
        "outlets": outlets,
        "nodes": [
            {
                "id": n.id,
                "label": n.label,
                "kind": n.kind if n.kind in KIND_STYLE else "other",
                "x": pos[n.id][0],
                "y": pos[n.id][1],
                "outlet": n.outlet,
                "parent": n.collapsed_under,
                "details": [list(d) for d in n.details],
                "url": safe_url(n.url),
                "tag": n.tag,
            }
            for n in view.nodes
        ],
        "edges": [
            {"id": e.id, "from": e.source, "to": e.target, "label": e.label, "smooth": smooth[e.id]}
            for e in view.edges
            if e.source in pos and e.target in pos
        ],
    }


def render_html(view: ViewGraph, *, title: str) -> str:
    """One self-contained UTF-8 HTML page drawing the view; nothing is fetched when it opens."""
    vis, script, style = _vis_network(), SCRIPT, STYLE
    csp = "; ".join(
        (
            "default-src 'none'",
            f"script-src {_sha256(vis)} {_sha256(script)}",
            f"style-src {_sha256(style)}",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )
    slots = {
        "CSP": csp,
        "TITLE": html.escape(title),
        "STYLE": style,
        "DATA": script_json(payload(view, title=title)),
        "VIS": vis,
        "SCRIPT": script,
    }
    return re.sub(r"@@([A-Z]+)@@", lambda m: slots[m[1]], PAGE)
