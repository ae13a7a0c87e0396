"""The page template of ``kg view``: HTML, CSS and the page script, as plain string constants.

No Jinja and no markup built from data: :mod:`kg.views` fills the ``@@NAME@@`` slots in one pass
(the title is HTML-escaped, the data is JSON that cannot close its ``<script>``), and the script
puts every label and detail into the DOM with ``textContent``. Only http(s) URLs become links.
"""

from __future__ import annotations

STYLE = """
*{box-sizing:border-box}
html,body{margin:0;height:100%;color:#1d232a;background:#fbfbfa;
  font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
body{display:grid;grid-template-columns:250px 1fr 320px;grid-template-rows:auto 1fr;height:100vh}
header{grid-column:1/4;display:flex;gap:12px;align-items:center;padding:8px 12px;
  border-bottom:1px solid #d9dcdf;background:#fff}
header h1{font-size:16px;margin:0 12px 0 0;max-width:40vw;
  white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
header input[type=search]{width:260px;padding:4px 8px;border:1px solid #aab;border-radius:4px;font:inherit}
header button,aside button,nav button{font:inherit;padding:3px 10px;border:1px solid #aab;border-radius:4px;
  background:#f4f5f7;cursor:pointer}
#search-status,#counts{color:#5b6570;font-size:12px}
#omitted{color:#8a4b00;font-size:12px}
nav{overflow:auto;padding:8px 12px;border-right:1px solid #d9dcdf;background:#fff}
nav h2,aside h2{font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:#5b6570;margin:12px 0 6px}
nav ul{list-style:none;margin:0;padding:0}
nav li{display:flex;align-items:center;gap:6px;margin:2px 0;font-size:13px}
nav label{display:flex;align-items:center;gap:6px;cursor:pointer;min-width:0}
nav span{overflow-wrap:anywhere;min-width:0}
.swatch{display:inline-block;width:13px;height:13px;flex:none}
.shape-dot{border-radius:50%}
.shape-diamond{clip-path:polygon(50% 0,100% 50%,50% 100%,0 50%)}
.shape-triangle{clip-path:polygon(50% 0,100% 100%,0 100%)}
.shape-triangleDown{clip-path:polygon(0 0,100% 0,50% 100%)}
.shape-hexagon{clip-path:polygon(25% 0,75% 0,100% 50%,75% 100%,25% 100%,0 50%)}
.shape-star{clip-path:polygon(50% 0,61% 35%,98% 35%,68% 57%,79% 91%,50% 70%,21% 91%,32% 57%,2% 35%,39% 35%)}
.count{color:#7a838c;font-size:12px;white-space:nowrap;flex:none}
main{position:relative;min-width:0;min-height:0}
#graph{position:absolute;inset:0}
aside{overflow:auto;padding:8px 14px;border-left:1px solid #d9dcdf;background:#fff}
aside h3{font-size:15px;margin:6px 0 4px;overflow-wrap:anywhere}
#panel-kind{color:#5b6570;margin:0 0 8px}
dl{margin:0}
dt{font-weight:600;font-size:12px;color:#5b6570;margin-top:8px}
dd{margin:0;white-space:pre-wrap;overflow-wrap:anywhere}
#panel-link a{overflow-wrap:anywhere}
#panel-id{font:11px ui-monospace,monospace;color:#7a838c;overflow-wrap:anywhere}
div.vis-tooltip{position:absolute;visibility:hidden;padding:4px 7px;white-space:normal;max-width:360px;
  font-size:12px;background:#fffff4;border:1px solid #998;border-radius:3px;
  box-shadow:2px 2px 6px rgba(0,0,0,.2);pointer-events:none;z-index:5}
"""

SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("kg-data").textContent);
  var byId = new Map(), children = new Map(), adjacent = new Map();
  data.nodes.forEach(function (n) { byId.set(n.id, n); adjacent.set(n.id, []); });
  data.nodes.forEach(function (n) {
    if (!n.parent || !byId.has(n.parent)) return;
    if (!children.has(n.parent)) children.set(n.parent, []);
    children.get(n.parent).push(n.id);
  });
  data.edges.forEach(function (e) {
    if (adjacent.has(e.from) && adjacent.has(e.to)) {
      adjacent.get(e.from).push(e.to);
      adjacent.get(e.to).push(e.from);
    }
  });
  var style = {}, tagColour = {};
  data.kinds.forEach(function (k) { style[k.kind] = k; });
  data.tags.forEach(function (t) { tagColour[t.tag] = t.colour; });
  var shown = { kinds: new Set(data.kinds.map(function (k) { return k.kind; })),
                outlets: new Set(data.outlets.concat([""])) };
  var revealedBy = new Map(), expanded = new Set(), hiddenNow = new Map(), edgeHiddenNow = new Map();
  var selected = null;

  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) {  // text goes in with textContent, never as markup
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function httpUrl(u) {
    if (typeof u !== "string") return null;
    var p;
    try { p = new URL(u); } catch (err) { return null; }
    return (p.protocol === "http:" || p.protocol === "https:") && p.host ? p.href : null;
  }
  function folded(id) {
    var n = byId.get(id), by = revealedBy.get(id);
    return !!n.parent && byId.has(n.parent) && !(by && by.size);
  }
  function visible(n) {
    return !folded(n.id) && shown.kinds.has(n.kind) && shown.outlets.has(n.outlet || "");
  }
  function shownLabel(n) {
    var c = children.get(n.id);
    if (!c) return n.label;
    return n.label + (expanded.has(n.id) ? "  [\u2212]" : "  [+" + c.length + "]");
  }
  function about(n) {
    return n.kind + (n.outlet ? " \u00b7 " + n.outlet : "") + (n.tag ? " \u00b7 " + n.tag : "");
  }
  function tooltip(n) {
    var box = el("div");
    box.appendChild(el("strong", n.label));
    box.appendChild(el("div", about(n)));
    return box;
  }
  function visNode(n) {
    var s = style[n.kind], tagged = n.tag && tagColour[n.tag];
    var colour = tagged ? tagColour[n.tag] : s.colour, border = tagged ? "#1d232a" : s.border;
    hiddenNow.set(n.id, !visible(n));
    return {
      id: n.id, label: shownLabel(n), x: n.x, y: n.y, shape: s.shape, size: tagged ? s.size + 3 : s.size,
      color: { background: colour, border: border, highlight: { background: colour, border: "#111" } },
      borderWidth: tagged ? 3 : 1, title: tooltip(n), hidden: hiddenNow.get(n.id),
      font: { size: s.font, color: "#1d232a", strokeWidth: 3, strokeColor: "#ffffff" },
      widthConstraint: { maximum: 10 * s.font + 50 }
    };
  }
  var nodes = new vis.DataSet(data.nodes.map(visNode));
  var edges = new vis.DataSet(data.edges.map(function (e) {
    var hidden = hiddenNow.get(e.from) || hiddenNow.get(e.to);
    edgeHiddenNow.set(e.id, hidden);
    return { id: e.id, from: e.from, to: e.to, label: e.label, smooth: e.smooth, hidden: hidden };
  }));
  var big = data.nodes.length > 1500;
  var network = new vis.Network($("graph"), { nodes: nodes, edges: edges }, {
    autoResize: true,
    physics: false,
    layout: { improvedLayout: false, randomSeed: 1 },
    interaction: { hover: false, tooltipDelay: 250, hideEdgesOnDrag: big, hideEdgesOnZoom: big },
    nodes: { borderWidth: 1, scaling: { label: { drawThreshold: 5 } } },
    edges: {
      arrows: { to: { enabled: true, scaleFactor: 0.5 } }, smooth: false, width: 1,
      color: { color: "#9aa3ad", highlight: "#1d232a" },
      font: { size: 10, color: "#5b6570", strokeWidth: 2, align: "middle" }
    }
  });

  function visibleNodeIds() {
    return data.nodes.filter(function (n) { return !hiddenNow.get(n.id); }).map(function (n) { return n.id; });
  }
  function visibleEdgeIds() {
    return data.edges.filter(function (e) { return !edgeHiddenNow.get(e.id); }).map(function (e) { return e.id; });
  }
  function refresh() {  // push only what changed to vis
    var nodeChanges = [], edgeChanges = [];
    data.nodes.forEach(function (n) {
      var hide = !visible(n);
      if (hiddenNow.get(n.id) === hide) return;
      hiddenNow.set(n.id, hide);
      nodeChanges.push({ id: n.id, hidden: hide });
    });
    data.edges.forEach(function (e) {
      var hide = !!(hiddenNow.get(e.from) || hiddenNow.get(e.to));
      if (edgeHiddenNow.get(e.id) === hide) return;
      edgeHiddenNow.set(e.id, hide);
      edgeChanges.push({ id: e.id, hidden: hide });
    });
    if (nodeChanges.length) nodes.update(nodeChanges);
    if (edgeChanges.length) edges.update(edgeChanges);
    $("counts").textContent = visibleNodeIds().length + " of " + data.nodes.length + " nodes shown";
  }
  function reveal(id, by) {
    if (!revealedBy.has(id)) revealedBy.set(id, new Set());
    revealedBy.get(id).add(by);
  }
  function unfold(id) {  // reveal what is folded into id; a match or quote also brings the quote it points to
    var c = children.get(id);
    if (!c) return [];
    expanded.add(id);
    var opened = c.slice();
    c.forEach(function (child) { reveal(child, id); });
    c.forEach(function (child) {
      var kind = byId.get(child).kind;
      if (kind !== "match" && kind !== "quote") return;
      adjacent.get(child).forEach(function (other) {
        if (byId.get(other).kind === "quote" && folded(other)) { reveal(other, id); opened.push(other); }
      });
    });
    nodes.update({ id: id, label: shownLabel(byId.get(id)) });
    return opened;
  }
  function fold(id) {
    if (!expanded.has(id)) return;
    expanded.delete(id);
    revealedBy.forEach(function (by) { by.delete(id); });
    nodes.update({ id: id, label: shownLabel(byId.get(id)) });
  }
  function expand(id) {
    if (!byId.has(id)) return [];
    var opened = unfold(id);
    refresh(); showDetails(selected);
    return opened;
  }
  function collapse(id) { fold(id); refresh(); showDetails(selected); }

  function showDetails(id) {
    var n = id ? byId.get(id) : null;
    selected = n ? id : null;
    var dl = $("panel-details"), link = $("panel-link"), toggle = $("panel-toggle");
    dl.replaceChildren();
    link.replaceChildren();
    $("panel-title").textContent = n ? n.label : "Click a node";
    $("panel-kind").textContent = n ? about(n) : "Its details show here.";
    $("panel-id").textContent = n ? n.id : "";
    toggle.hidden = !(n && children.has(n.id));
    if (!n) return;
    n.details.forEach(function (pair) {
      dl.appendChild(el("dt", pair[0]));
      dl.appendChild(el("dd", pair[1]));
    });
    var url = httpUrl(n.url);
    if (url) {
      var a = el("a", url);
      a.href = url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      link.appendChild(a);
    }
    if (children.has(n.id)) {
      toggle.textContent = expanded.has(n.id) ? "Fold provenance"
        : "Show provenance (" + children.get(n.id).length + ")";
    }
  }
  $("panel-toggle").addEventListener("click", function () {
    if (!selected) return;
    if (expanded.has(selected)) collapse(selected); else expand(selected);
  });
  network.on("click", function (params) {
    if (!params.nodes.length) { showDetails(null); return; }
    var id = params.nodes[0];
    showDetails(id);
    if (children.has(id) && !expanded.has(id)) expand(id);
  });

  function focusNode(id) {
    var n = byId.get(id);
    if (!n) return false;
    if (folded(id)) unfold(n.parent);
    shown.kinds.add(n.kind);
    shown.outlets.add(n.outlet || "");
    syncBoxes();
    refresh();
    network.selectNodes([id]);
    network.focus(id, { scale: Math.max(network.getScale(), 1.0), animation: false });
    showDetails(id);
    return true;
  }
  var hits = [], hitAt = -1, lastQuery = "";
  function search(query) {
    var q = String(query).trim().toLowerCase();
    if (!q) { $("search-status").textContent = ""; return null; }
    if (q !== lastQuery) {
      lastQuery = q;
      hitAt = -1;
      hits = data.nodes.filter(function (n) { return n.label.toLowerCase().indexOf(q) >= 0; })
        .sort(function (a, b) {
          var ia = a.label.toLowerCase().indexOf(q), ib = b.label.toLowerCase().indexOf(q);
          return ia - ib || a.label.length - b.label.length || (a.id < b.id ? -1 : 1);
        })
        .map(function (n) { return n.id; });
    }
    if (!hits.length) { $("search-status").textContent = "no match"; return null; }
    hitAt = (hitAt + 1) % hits.length;
    focusNode(hits[hitAt]);
    $("search-status").textContent = (hitAt + 1) + " of " + hits.length;
    return hits[hitAt];
  }
  $("search").addEventListener("keydown", function (ev) {
    if (ev.key !== "Enter") return;
    ev.preventDefault();
    search(this.value);
  });
  $("search-go").addEventListener("click", function () { search($("search").value); });

  var boxes = [];
  function countOf(key, value) {
    return data.nodes.filter(function (n) { return (n[key] || "") === value; }).length;
  }
  function row(list, swatch, text, count) {
    var li = el("li");
    if (swatch) li.appendChild(swatch);
    li.appendChild(el("span", text));
    if (count !== null) li.appendChild(el("span", "(" + count + ")", "count"));
    list.appendChild(li);
    return li;
  }
  function checkbox(list, set, value, text, testid) {
    var li = el("li"), label = el("label"), box = el("input");
    box.type = "checkbox";
    box.checked = set.has(value);
    box.setAttribute("data-testid", testid);
    box.addEventListener("change", function () {
      if (box.checked) set.add(value); else set.delete(value);
      refresh();
    });
    boxes.push({ box: box, set: set, value: value });
    label.appendChild(box);
    label.appendChild(el("span", text));
    label.appendChild(el("span", "(" + countOf(set === shown.kinds ? "kind" : "outlet", value) + ")", "count"));
    li.appendChild(label);
    list.appendChild(li);
  }
  function syncBoxes() { boxes.forEach(function (b) { b.box.checked = b.set.has(b.value); }); }
  data.kinds.forEach(function (k) {
    var sw = el("span", null, "swatch shape-" + k.shape);
    sw.style.background = k.colour;
    row($("legend-kinds"), sw, k.kind, countOf("kind", k.kind));
    checkbox($("kind-boxes"), shown.kinds, k.kind, k.kind, "filter-kind-" + k.kind);
  });
  data.tags.forEach(function (t) {
    var sw = el("span", null, "swatch shape-dot");
    sw.style.background = t.colour;
    row($("legend-tags"), sw, t.tag, null);
  });
  $("legend-tags-title").hidden = !data.tags.length;
  data.outlets.forEach(function (o, i) { checkbox($("outlet-boxes"), shown.outlets, o, o, "filter-outlet-" + i); });
  if (data.outlets.length) checkbox($("outlet-boxes"), shown.outlets, "", "(no outlet)", "filter-outlet-none");
  $("outlet-filter").hidden = !data.outlets.length;

  function fit() {
    var ids = visibleNodeIds();
    network.fit({ nodes: ids.length ? ids : data.nodes.map(function (n) { return n.id; }), animation: false });
    network.moveTo({ scale: network.getScale() * 0.9, animation: false });
  }
  $("expand-all").addEventListener("click", function () {
    children.forEach(function (_c, id) { if (!expanded.has(id)) unfold(id); });
    refresh(); showDetails(selected);
  });
  $("collapse-all").addEventListener("click", function () {
    Array.from(expanded).forEach(fold);
    refresh(); showDetails(selected);
  });
  $("fit").addEventListener("click", fit);

  $("title").textContent = data.title;
  $("omitted").textContent = data.omitted;
  refresh();
  showDetails(null);
  if (data.focus && byId.has(data.focus)) focusNode(data.focus); else fit();

  var api = {
    ready: false, network: network,
    nodeCount: function () { return nodes.length; },
    edgeCount: function () { return edges.length; },
    visibleNodeIds: visibleNodeIds, visibleEdgeIds: visibleEdgeIds,
    expand: expand, collapse: collapse, focus: focusNode, search: search, select: showDetails, fit: fit,
    childrenOf: function (id) { return (children.get(id) || []).slice(); },
    domPosition: function (id) {
      var p = network.getPositions([id])[id];
      return p ? network.canvasToDOM(p) : null;
    }
  };
  network.once("afterDrawing", function () {
    api.ready = true;
    document.body.setAttribute("data-ready", "true");
  });
  network.redraw();
  window.kgView = api;
})();
"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="@@CSP@@">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>@@TITLE@@</title>
<style>@@STYLE@@</style>
</head>
<body>
<header>
<h1 id="title"></h1>
<input id="search" type="search" placeholder="Find a node by name" aria-label="Find a node by name"
  data-testid="search" autocomplete="off">
<button id="search-go" type="button" data-testid="search-go">Find</button>
<span id="search-status" data-testid="search-status"></span>
<span id="counts" data-testid="counts"></span>
<span id="omitted" data-testid="omitted"></span>
</header>
<nav>
<section data-testid="legend">
<h2>Legend</h2>
<ul id="legend-kinds"></ul>
<h2 id="legend-tags-title">Verdicts</h2>
<ul id="legend-tags"></ul>
</section>
<section data-testid="kind-filter">
<h2>Show kinds</h2>
<ul id="kind-boxes"></ul>
</section>
<section id="outlet-filter" data-testid="outlet-filter">
<h2>Show outlets</h2>
<ul id="outlet-boxes"></ul>
</section>
<h2>Provenance</h2>
<button id="expand-all" type="button" data-testid="expand-all">Show all</button>
<button id="collapse-all" type="button" data-testid="collapse-all">Fold all</button>
<button id="fit" type="button" data-testid="fit">Fit</button>
</nav>
<main><div id="graph" data-testid="graph"></div></main>
<aside data-testid="details-panel">
<h2>Details</h2>
<h3 id="panel-title" data-testid="panel-title"></h3>
<p id="panel-kind" data-testid="panel-kind"></p>
<dl id="panel-details" data-testid="panel-details"></dl>
<p id="panel-link" data-testid="panel-link"></p>
<button id="panel-toggle" type="button" data-testid="panel-toggle" hidden></button>
<p id="panel-id" data-testid="panel-id"></p>
</aside>
<script type="application/json" id="kg-data">@@DATA@@</script>
<script>@@VIS@@</script>
<script>@@SCRIPT@@</script>
</body>
</html>
"""
