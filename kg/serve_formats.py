"""Result formats for `kg serve`: SPARQL results as JSON, XML, CSV and TSV, graphs, content negotiation."""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Mapping

from kg.model import Result, Term
from kg.sparql_syntax import term_syntax

ROW_TYPES = {
    "application/sparql-results+json": "json", "application/json": "json",
    "application/sparql-results+xml": "xml", "application/xml": "xml", "text/xml": "xml",
    "text/csv": "csv", "text/tab-separated-values": "tsv", "text/html": "html",
}
GRAPH_TYPES = {
    "text/turtle": "turtle", "application/x-turtle": "turtle", "application/n-triples": "nt",
    "text/plain": "nt", "application/ld+json": "jsonld", "application/json": "jsonld", "text/html": "html",
}
MEDIA = {"json": "application/sparql-results+json", "xml": "application/sparql-results+xml",
         "csv": "text/csv", "tsv": "text/tab-separated-values", "turtle": "text/turtle",
         "nt": "application/n-triples", "jsonld": "application/ld+json", "html": "text/html"}


def _plain(term: Term | None) -> str:
    return "" if term is None else term.value


def results_text(result: Result, fmt: str) -> str:
    """A SELECT or ASK result as SPARQL 1.1 JSON, XML, CSV or TSV."""
    from kg.output import sparql_json

    if fmt == "json":
        return sparql_json(result)
    if fmt == "xml":
        return _results_xml(result)
    if result.kind == "ask":
        return f"_askResult\r\n{str(result.boolean).lower()}\r\n" if fmt == "csv" else \
            f"?_askResult\n{str(result.boolean).lower()}\n"
    out = io.StringIO()
    if fmt == "csv":  # https://www.w3.org/TR/sparql11-results-csv-tsv/: CRLF, values without syntax
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(result.columns)
        writer.writerows([_plain(t) for t in row] for row in result.terms)
        return out.getvalue()
    lines = ["\t".join(f"?{c}" for c in result.columns)]
    lines += ["\t".join("" if t is None else term_syntax(t) for t in row) for row in result.terms]
    return "\n".join(lines) + "\n"


def _results_xml(result: Result) -> str:
    a = html.escape
    out = ['<?xml version="1.0"?>', '<sparql xmlns="http://www.w3.org/2005/sparql-results#">', "<head>"]
    out += [f'<variable name="{a(c)}"/>' for c in result.columns]
    out.append("</head>")
    if result.kind == "ask":
        out.append(f"<boolean>{str(result.boolean).lower()}</boolean>")
    else:
        out.append("<results>")
        for row in result.terms:
            out.append("<result>")
            for column, t in zip(result.columns, row, strict=True):
                if t is None:
                    continue
                if t.kind == "uri":
                    value = f"<uri>{a(t.value)}</uri>"
                elif t.kind == "bnode":
                    value = f"<bnode>{a(t.value)}</bnode>"
                elif t.language:
                    value = f'<literal xml:lang="{a(t.language)}">{a(t.value)}</literal>'
                elif t.datatype and not t.datatype.endswith("#string"):
                    value = f'<literal datatype="{a(t.datatype)}">{a(t.value)}</literal>'
                else:
                    value = f"<literal>{a(t.value)}</literal>"
                out.append(f'<binding name="{a(column)}">{value}</binding>')
            out.append("</result>")
        out.append("</results>")
    out.append("</sparql>")
    return "\n".join(out) + "\n"


def graph_text(ntriples: str, fmt: str) -> str:
    from kg.store import convert_graph

    return ntriples if fmt == "nt" else convert_graph(ntriples, fmt)


def negotiate(accept: str, choices: Mapping[str, str], default: str) -> str:
    """The format for the best media type in an Accept header; default for */* or nothing usable.

    >>> negotiate("text/csv;q=0.5, application/sparql-results+xml", ROW_TYPES, "json")
    'xml'
    >>> negotiate("*/*", ROW_TYPES, "json")
    'json'
    """
    best, best_q = default, 0.0
    for position, item in enumerate(accept.split(",")):
        media, *options = (p.strip() for p in item.split(";"))
        q = 1.0
        for option in options:
            if option.startswith("q="):
                try:
                    q = float(option[2:])
                except ValueError:
                    q = 0.0
        q -= position * 1e-6  # the earlier of equals wins
        if media.lower() in choices and q > best_q:
            best, best_q = choices[media.lower()], q
    return best
