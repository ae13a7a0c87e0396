"""SPARQL and N-Triples text: keywords outside strings, query forms, escaped terms, bound parameters.

Shared by the remote store (kg.remote), kg push and kg serve: each reads or writes SPARQL and
N-Triples as text, and none of it lets user text become syntax.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from kg.errors import QueryError, StoreError
from kg.model import Term
from kg.prefixes import PREFIXES

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"


# ---------------------------------------------------------------------------------------------
# SPARQL text: find keywords outside strings, IRIs and comments


_LEXEMES = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""'
    r"|'''(?:[^'\\]|\\.|'(?!''))*'''"
    r'|"(?:[^"\\\n]|\\.)*"'
    r"|'(?:[^'\\\n]|\\.)*'"
    r"|<[^<>\"{}|^`\\\s]*>"
    r"|#[^\n]*",
    re.S,
)


def blank_literals(sparql: str) -> str:
    """The query with strings, IRIs and comments blanked to spaces (same length, same positions).

    What is left is SPARQL syntax only, so a keyword found in it is a keyword, not text.

    >>> blank_literals('SELECT * { ?s ?p "SERVICE" } # SERVICE')
    'SELECT * { ?s ?p           }          '
    """
    return _LEXEMES.sub(lambda m: " " * len(m.group(0)), sparql)


def has_keyword(sparql: str, keyword: str) -> bool:
    """Whether keyword appears in the query as syntax, not inside a string, IRI or comment.

    >>> has_keyword("SELECT * { SERVICE <http://x/> { ?s ?p ?o } }", "SERVICE")
    True
    >>> has_keyword('SELECT * { ?s ?p "use a SERVICE" }', "SERVICE")
    False
    """
    return re.search(rf"(?<![\w?$:]){keyword}(?![\w:-])", blank_literals(sparql), re.I) is not None


_FORMS = re.compile(
    r"(?<![\w?$:])(SELECT|ASK|CONSTRUCT|DESCRIBE|INSERT|DELETE|LOAD|CLEAR|DROP|CREATE|ADD|MOVE|COPY|WITH)(?![\w:-])",
    re.I,
)


def query_form(sparql: str) -> str:
    """select, ask, construct, describe, or update; "" when no form keyword is found.

    >>> query_form("PREFIX ex: <http://x/> CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }")
    'construct'
    >>> query_form("DROP SILENT GRAPH <http://x/g>")
    'update'
    """
    m = _FORMS.search(blank_literals(sparql))
    if not m:
        return ""
    word = m.group(1).lower()
    return word if word in ("select", "ask", "construct", "describe") else "update"


def _where_brace(sparql: str) -> int:
    """The index of the '{' that opens the query's WHERE group, or -1."""
    text = blank_literals(sparql)
    m = re.search(r"(?<![\w?$:])WHERE\s*\{", text, re.I)
    if m:
        return m.end() - 1
    form = _FORMS.search(text)
    if not form:
        return -1
    start = form.end()
    if form.group(1).upper() == "CONSTRUCT":  # CONSTRUCT { template } { pattern }
        depth = 0
        for i in range(start, len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    start = i + 1
                    break
    return text.find("{", start)


# ---------------------------------------------------------------------------------------------
# Terms


_IRI_OK = re.compile(r"^[^<>\"{}|^`\\\x00-\x20]*$")
_ECHAR = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def iri_ref(iri: str) -> str:
    """``<iri>``, refusing characters that could end the IRI or change the query.

    >>> iri_ref("https://example.org/kg/id/clause/rofr")
    '<https://example.org/kg/id/clause/rofr>'
    """
    if not iri or not _IRI_OK.match(iri) or ":" not in iri:
        raise QueryError(f"{iri!r} is not a valid IRI. Write <iri>, prefix:name or \"text\"")
    return f"<{iri}>"


def literal(text: str, *, datatype: str | None = None, language: str | None = None) -> str:
    """A literal in canonical N-Triples form, which SPARQL also reads.

    >>> literal('say "hi"\\n')
    '"say \\\\"hi\\\\"\\\\n"'
    >>> literal("5", datatype="http://www.w3.org/2001/XMLSchema#integer")
    '"5"^^<http://www.w3.org/2001/XMLSchema#integer>'
    """
    body = "".join(_ECHAR.get(c) or (f"\\u{ord(c):04X}" if ord(c) < 0x20 or ord(c) == 0x7F else c) for c in text)
    if language:
        if not re.fullmatch(r"[A-Za-z]+(-[A-Za-z0-9]+)*", language):
            raise QueryError(f"{language!r} is not a language tag")
        return f'"{body}"@{language}'
    if datatype and datatype not in (XSD_STRING, RDF_LANG_STRING):
        return f'"{body}"^^{iri_ref(datatype)}'
    return f'"{body}"'


def term_syntax(term: Term) -> str:
    """A Term as N-Triples / SPARQL syntax."""
    if term.kind == "uri":
        return iri_ref(term.value)
    if term.kind == "bnode":
        return f"_:{re.sub(r'[^A-Za-z0-9_]', '_', term.value) or 'b'}"
    return literal(term.value, datatype=term.datatype, language=term.language)


def binding_syntax(value: str) -> str:
    """A -p value as a SPARQL term, read as kg.store reads it: <iri>, an absolute IRI, "text",
    prefix:name, or else plain text.

    >>> binding_syntax("id:clause/rofr")
    '<https://example.org/kg/id/clause/rofr>'
    >>> binding_syntax('right "of" first')
    '"right \\\\"of\\\\" first"'
    """
    if value.startswith("<") and value.endswith(">"):
        return iri_ref(value[1:-1])
    if re.match(r"^(https?|urn|mailto):\S+$", value):
        return iri_ref(value)
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return literal(value[1:-1])
    prefix, _, local = value.partition(":")
    if prefix in PREFIXES and local and re.match(r"^[\w./-]+$", local):
        return iri_ref(PREFIXES[prefix] + local)
    return literal(value)


def bind(sparql: str, params: Mapping[str, str]) -> str:
    """The query with params bound by a VALUES block first in its WHERE group.

    A FILTER in that group sees the bound values, as with Oxigraph's substitutions.

    >>> bind("SELECT ?x WHERE { ?x a ?t }", {"t": "schema:Claim"})
    'SELECT ?x WHERE { VALUES (?t) { (<https://schema.org/Claim>) } ?x a ?t }'
    """
    if not params:
        return sparql
    for name in params:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise QueryError(f"{name!r} is not a variable name. Write NAME=VALUE with NAME a SPARQL variable")
    at = _where_brace(sparql)
    if at < 0:
        raise QueryError("cannot bind parameters: the query has no WHERE group. Write the query with WHERE { … }")
    names = " ".join(f"?{n}" for n in params)
    values = " ".join(binding_syntax(v) for v in params.values())
    return f"{sparql[:at + 1]} VALUES ({names}) {{ ({values}) }}{sparql[at + 1:]}"


def prologue(sparql: str) -> str:
    """PREFIX lines for the predeclared prefixes the query does not declare itself."""
    declared = {m.group(1) for m in re.finditer(r"PREFIX\s+([\w.-]*):", blank_literals(sparql), re.I)}
    return "".join(f"PREFIX {p}: <{ns}>\n" for p, ns in PREFIXES.items() if p not in declared)


# ---------------------------------------------------------------------------------------------
# N-Quads


_NQ_TERM = r'<[^>]*>|_:\S+|"(?:[^"\\]|\\.)*"(?:@[A-Za-z0-9-]+|\^\^<[^>]*>)?'
_NQ_LINE = re.compile(rf"^({_NQ_TERM})\s+({_NQ_TERM})\s+({_NQ_TERM})(?:\s+({_NQ_TERM}))?\s*\.\s*$")


def split_graphs(nquads: str) -> dict[str | None, list[str]]:
    """N-Quads grouped by graph IRI (None for the default graph), each as N-Triples lines.

    >>> split_graphs('<http://a> <http://b> "c d" <http://g> .\\n')
    {'http://g': ['<http://a> <http://b> "c d" .']}
    """
    graphs: dict[str | None, list[str]] = {}
    for number, line in enumerate(nquads.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _NQ_LINE.match(line)
        if not m:
            raise StoreError(f"line {number} of the dump is not N-Quads: {line[:80]!r}. Rebuild it with 'kg build'")
        graph = m.group(4)[1:-1] if m.group(4) and m.group(4).startswith("<") else None
        graphs.setdefault(graph, []).append(f"{m.group(1)} {m.group(2)} {m.group(3)} .")
    return graphs

