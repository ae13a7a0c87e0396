"""HTML for `kg serve`: the page frame and its CSP, result tables, landing and error pages, service description."""

from __future__ import annotations

import base64
import hashlib
import html
import urllib.parse
from http import HTTPStatus

from kg.model import Result, Term
from kg.sparql_syntax import literal

SD = "http://www.w3.org/ns/sparql-service-description#"
STYLE = (
    "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#222}"
    "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;"
    "text-align:left}th{background:#f3f3f3}pre{background:#f7f7f7;padding:.7rem;overflow:auto}"
    "textarea{width:100%;font:13px monospace}.err{color:#a00}a{color:#1a5fb4}"
)
CSP = (f"default-src 'none'; style-src 'sha256-{base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()}'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def page(title: str, body: str) -> str:
    """A complete page; body must already be escaped."""
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">'
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
            f'<p><a href="/">kg</a></p>\n<h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n')


def _cell(term: Term | None) -> str:
    if term is None:
        return ""
    text = html.escape(term.value)
    if term.kind == "uri" and term.value.startswith(("http://", "https://")):
        return f'<a href="{html.escape(term.value, quote=True)}" rel="noreferrer">{text}</a>'
    return text


def html_table(result: Result) -> str:
    if result.kind == "ask":
        return f"<p>{str(result.boolean).lower()}</p>"
    if result.kind == "graph":
        return f"<pre>{html.escape(result.ntriples)}</pre>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in result.columns)
    rows = "".join("<tr>" + "".join(f"<td>{_cell(t)}</td>" for t in row) + "</tr>\n" for row in result.terms)
    return f"<p>{len(result.terms)} rows</p>\n<table><tr>{head}</tr>\n{rows}</table>"


def landing(*, allow_update: bool) -> str:
    from kg.queries import list_queries

    items = "".join(
        f'<li><a href="/queries/{urllib.parse.quote(n)}">{html.escape(n)}</a>: {html.escape(d)}</li>\n'
        for n, d in list_queries())
    return page("kg: the deal-claims graph", f"""
<p>A read{'-write' if allow_update else '-only'} SPARQL 1.1 endpoint at <a href="/sparql">/sparql</a>
(GET or POST; JSON, XML, CSV and TSV results; Turtle, N-Triples and JSON-LD graphs). The prefixes of
<code>kg query</code> are predeclared.</p>
<h2>Named queries</h2>\n<ul>\n{items}</ul>
<h2>Views</h2>
<ul><li><a href="/view">The whole graph</a></li><li><a href="/audit">The audit of the analysis</a></li>
<li><a href="/queries/claims">Claims to trace</a>: open <code>/trace/&lt;claim id&gt;</code></li></ul>
<form action="/trace" method="get"><label>Trace a claim or quote (id or text):
<input name="ref" size="50"></label> <button>Trace</button></form>
<h2>Query</h2>
<form action="/sparql" method="post"><textarea name="query" rows="8">SELECT ?class (COUNT(?s) AS ?n)
WHERE {{ ?s a ?class }} GROUP BY ?class ORDER BY DESC(?n)</textarea><br><button>Run</button></form>""")


def error_page(status: int, message: str) -> str:
    return page(f"{status} {HTTPStatus(status).phrase}", f'<p class="err">{html.escape(message)}</p>')


def service_description(base: str, *, allow_update: bool) -> str:
    """The service description as N-Triples."""
    me = f"<{base}/sparql>"

    def sd(name: str) -> str:
        return f"<{SD}{name}>"

    comment = "kg: news claims about the OpenAI-Microsoft partnership, traced to their sources. " + (
        "Updates enabled." if allow_update else "Read-only.")
    rdf_type = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
    formats = ["SPARQL_Results_JSON", "SPARQL_Results_XML", "SPARQL_Results_CSV", "SPARQL_Results_TSV",
               "Turtle", "N-Triples", "JSON-LD"]
    lines = [f"{me} {rdf_type} {sd('Service')} .", f"{me} {sd('endpoint')} {me} .",
             f"{me} {sd('supportedLanguage')} {sd('SPARQL11Query')} .",
             f"{me} {sd('feature')} {sd('UnionDefaultGraph')} .",
             f"{me} {sd('defaultDataset')} _:dataset .", f"_:dataset {rdf_type} {sd('Dataset')} .",
             f"_:dataset {sd('defaultGraph')} _:default .", f"_:default {rdf_type} {sd('Graph')} .",
             f"{me} <http://www.w3.org/2000/01/rdf-schema#comment> {literal(comment)} ."]
    if allow_update:
        lines.append(f"{me} {sd('supportedLanguage')} {sd('SPARQL11Update')} .")
    lines += [f"{me} {sd('resultFormat')} <http://www.w3.org/ns/formats/{f}> ." for f in formats]
    return "\n".join(lines) + "\n"


