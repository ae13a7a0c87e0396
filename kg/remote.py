"""A remote SPARQL 1.1 endpoint as the store, and `kg push` of a built dataset to one.

:class:`RemoteStore` answers the same ``query(sparql, *, params) -> Result`` as
:class:`kg.store.Store`, over HTTP with the standard library only: SELECT and ASK come back as
SPARQL 1.1 Query Results JSON, CONSTRUCT and DESCRIBE as N-Triples. The predeclared prefixes are
sent as PREFIX lines. Parameters are bound with a ``VALUES`` block put first in the query's
WHERE group, built from validated, escaped terms: user text never becomes SPARQL syntax.

:func:`push` uploads a canonical N-Quads dump one named graph at a time, each graph in one
request (Graph Store Protocol ``PUT``, or ``DROP SILENT GRAPH`` + ``INSERT DATA`` as one SPARQL
Update), so a graph is replaced whole or not at all, and pushing twice leaves the same data.

The remote server must treat its default graph as the union of the named graphs, as the embedded
store is queried: see docs/endpoints.md for Fuseki, Oxigraph server and GraphDB.
"""

from __future__ import annotations

import base64
import functools
import http.client
import json
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kg.errors import QueryError, StoreError
from kg.model import Result, Rows, Term
from kg.prefixes import PREFIXES

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
JSON_RESULTS = "application/sparql-results+json"
NTRIPLES = "application/n-triples"


class EndpointError(StoreError):
    """A remote SPARQL endpoint cannot be reached, refused a request, or answered nonsense."""


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
# HTTP


@dataclass(frozen=True)
class Auth:
    """HTTP credentials: basic (user, password) or a bearer token."""

    user: str | None = None
    password: str | None = None
    token: str | None = None

    def header(self) -> str | None:
        if self.token:
            return f"Bearer {self.token}"
        if self.user is not None:
            raw = f"{self.user}:{self.password or ''}".encode()
            return "Basic " + base64.b64encode(raw).decode("ascii")
        return None


def split_credentials(url: str, auth: Auth | None = None) -> tuple[str, Auth]:
    """(url without user:password, the credentials to use): from the URL, else auth, else the env.

    Env: KG_ENDPOINT_USER and KG_ENDPOINT_PASSWORD (basic), or KG_ENDPOINT_TOKEN (bearer).

    >>> split_credentials("https://ann:s%40cret@db.example/sparql")
    ('https://db.example/sparql', Auth(user='ann', password='s@cret', token=None))
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointError(f"{url!r} is not an http(s) URL. Pass the endpoint as http://host:port/path")
    if parts.username is not None:
        host = parts.netloc.rsplit("@", 1)[1]
        bare = urllib.parse.urlunsplit(parts._replace(netloc=host))
        return bare, Auth(urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
    if auth is not None:
        return url, auth
    env = os.environ
    if env.get("KG_ENDPOINT_TOKEN"):
        return url, Auth(token=env["KG_ENDPOINT_TOKEN"])
    if env.get("KG_ENDPOINT_USER"):
        return url, Auth(env["KG_ENDPOINT_USER"], env.get("KG_ENDPOINT_PASSWORD", ""))
    return url, Auth()


def _first_line(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    text = re.sub(r"<[^>]+>", " ", text) if text.lstrip().startswith("<") else text  # an HTML error page
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    return line[:300]


class _TransientError(Exception):
    """A failure worth retrying: connection refused or reset, timeout, 5xx."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _request(method: str, url: str, *, auth: Auth, timeout: float, body: bytes | None = None,
             headers: Mapping[str, str] | None = None) -> tuple[int, str, bytes]:
    """(status, content type, body) of one HTTP request; _TransientError or EndpointError on failure."""
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    if (credentials := auth.header()) is not None:
        request.add_header("Authorization", credentials)
    request.add_header("User-Agent", "kg (SPARQL 1.1 client)")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as e:
        detail = _first_line(e.read() or b"")
        message = f"{url} answered {e.code} {e.reason}" + (f": {detail}" if detail else "")
        if e.code >= 500:
            raise _TransientError(message) from None
        hint = {401: ". Give credentials: https://user:password@host/… or KG_ENDPOINT_USER/KG_ENDPOINT_PASSWORD",
                403: ". The server refuses this: check its permissions (writes need an update-enabled endpoint)",
                404: ". Check the URL: it must be the endpoint itself, e.g. http://host:3030/ds/sparql"}
        raise EndpointError(message + hint.get(e.code, "")) from None
    except TimeoutError:
        raise _TransientError(f"{url} did not answer within {timeout:g} s") from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise _TransientError(f"{url} did not answer within {timeout:g} s") from None
        if isinstance(reason, ConnectionRefusedError):
            raise _TransientError(f"cannot connect to {url}: connection refused") from None
        if isinstance(reason, socket.gaierror):
            raise EndpointError(f"cannot connect to {url}: unknown host. Check the endpoint URL") from None
        raise _TransientError(f"cannot connect to {url}: {getattr(reason, 'strerror', None) or reason}") from None
    except (ConnectionError, http.client.HTTPException) as e:
        raise _TransientError(f"{url} closed the connection ({type(e).__name__})") from None


def _with_retries(call: Callable[[], tuple[int, str, bytes]], *, retries: int, backoff: float,
                  on_retry: Callable[[str], None] | None = None) -> tuple[int, str, bytes]:
    for attempt in range(retries + 1):
        try:
            return call()
        except _TransientError as e:
            if attempt == retries:
                raise
            if on_retry is not None:
                on_retry(f"{e.message}; retrying ({attempt + 1} of {retries})")
            time.sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------------
# Results


def _json_term(value: Mapping[str, str]) -> Term:
    kind = value.get("type", "literal")
    if kind == "uri":
        return Term("uri", value["value"])
    if kind == "bnode":
        return Term("bnode", value["value"])
    language = value.get("xml:lang")
    datatype = value.get("datatype") or (RDF_LANG_STRING if language else XSD_STRING)
    return Term("literal", value["value"], datatype, language)


def parse_json_results(data: bytes, *, url: str) -> Result:
    """SPARQL 1.1 Query Results JSON as a Result."""
    try:
        doc = json.loads(data)
        if "boolean" in doc:
            return Result("ask", boolean=bool(doc["boolean"]))
        columns = list(doc["head"].get("vars", []))
        terms = [[_json_term(b[c]) if c in b else None for c in columns] for b in doc["results"]["bindings"]]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise EndpointError(f"{url} did not answer with SPARQL JSON results ({e}). Is it a SPARQL endpoint?") from None
    return Result("select", columns, terms)


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


# ---------------------------------------------------------------------------------------------
# The store


class RemoteStore:
    """A SPARQL 1.1 endpoint used as the store: the same query() as kg.store.Store.

    Args:
        url: the query endpoint, e.g. http://localhost:3030/kg/sparql; user:password@ in the URL
            (or KG_ENDPOINT_USER/KG_ENDPOINT_PASSWORD, or KG_ENDPOINT_TOKEN) authenticate.
        timeout: seconds to wait for each answer.
        auth: credentials when not in the URL or the environment.
    """

    def __init__(self, url: str, *, timeout: float = 60.0, auth: Auth | None = None) -> None:
        self.url, self.auth = split_credentials(url, auth)
        self.timeout = timeout
        self.path = self.url  # what messages name as "the store at …"

    def query(self, sparql: str, *, params: Mapping[str, str] | None = None, union: bool = True) -> Result:
        """Run SPARQL on the endpoint; params bind ?NAME to an IRI or a literal, as Store does.

        union is accepted for Store's signature: the server decides what its default graph is.
        """
        form = query_form(sparql)
        if form in ("", "update"):
            raise QueryError("the query is not SELECT, ASK, CONSTRUCT or DESCRIBE. kg only reads from an endpoint; "
                             "use 'kg push' to write")
        text = prologue(sparql) + bind(sparql, params or {})
        accept = JSON_RESULTS if form in ("select", "ask") else f"{NTRIPLES}, text/plain;q=0.5"
        body = urllib.parse.urlencode({"query": text}).encode("utf-8")
        headers = {"Accept": accept, "Content-Type": "application/x-www-form-urlencoded"}
        try:
            _, _, data = _with_retries(
                lambda: _request("POST", self.url, auth=self.auth, timeout=self.timeout, body=body, headers=headers),
                retries=1, backoff=0.2)
        except _TransientError as e:
            raise EndpointError(f"{e.message}. Check that the server runs, or drop --endpoint to use the local store"
                                ) from None
        except EndpointError as e:
            if " 400 " in str(e):
                raise QueryError(f"the endpoint refused the query: {e}") from None
            raise
        if form in ("select", "ask"):
            return parse_json_results(data, url=self.url)
        return Result("graph", ntriples=data.decode("utf-8"))

    def select(self, sparql: str, *, params: Mapping[str, str] | None = None) -> Rows:
        result = self.query(sparql, params=params)
        if result.kind != "select":
            raise QueryError("expected a SELECT query")
        return result.rows()

    def is_empty(self) -> bool:
        return not self.query("ASK { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }").boolean

    def count(self) -> int:
        """Quads in the named graphs (the union default graph would count them twice)."""
        rows = self.query("SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }").rows().values
        return int(rows[0][0] or 0) if rows else 0

    def graph_sizes(self, graphs: list[str], *, chunk: int = 200) -> dict[str, int]:
        """Triples in each of the named graphs given (absent graphs are left out)."""
        sizes: dict[str, int] = {}
        for start in range(0, len(graphs), chunk):
            values = " ".join(iri_ref(g) for g in graphs[start:start + chunk])
            sparql = f"SELECT ?g (COUNT(*) AS ?n) WHERE {{ VALUES ?g {{ {values} }} GRAPH ?g {{ ?s ?p ?o }} }} "
            sparql += "GROUP BY ?g"
            rows = self.query(sparql).rows()
            sizes.update({str(g): int(n or 0) for g, n in rows.values})
        return sizes

    def nquads(self) -> str:
        """Every quad of the named graphs, as canonical sorted N-Quads (for kg validate)."""
        result = self.query("SELECT ?s ?p ?o ?g WHERE { GRAPH ?g { ?s ?p ?o } }")
        lines = {" ".join(term_syntax(t) for t in row if t is not None) + " .\n" for row in result.terms}
        return "".join(sorted(lines))


# ---------------------------------------------------------------------------------------------
# Push


@dataclass(frozen=True)
class PushSummary:
    graphs: int
    triples: int
    url: str
    union_default_graph: bool | None = None

    def line(self) -> str:
        return f"Pushed {self.graphs} graphs ({self.triples} triples) to {self.url}."


def _gsp_url(graph_store: str, graph: str) -> str:
    joiner = "&" if "?" in graph_store else "?"
    return f"{graph_store}{joiner}{urllib.parse.urlencode({'graph': graph})}"


def push(dump_nquads: str, endpoint: str, *, graph_store_url: str | None = None, update_url: str | None = None,
         progress: Callable[[str], None] | None = None, retries: int = 3, backoff: float = 0.5,
         timeout: float = 60.0, auth: Auth | None = None) -> PushSummary:
    """Upload every named graph of dump_nquads to a SPARQL 1.1 server, one graph per request.

    With graph_store_url, each graph is replaced by a Graph Store Protocol PUT; otherwise by one
    SPARQL Update (``DROP SILENT GRAPH <g> ; INSERT DATA { GRAPH <g> { … } }``) sent to
    update_url (default: endpoint). Either way the server applies a graph whole or not at all,
    and pushing the same dump twice leaves the same data. Connection failures and 5xx answers are
    retried with backoff; a refusal (4xx) stops at once. Afterwards the triples per graph are
    counted through the query endpoint and must match the dump.

    Raises:
        EndpointError: naming the graph, how far the push got, and the server's answer.
    """
    say = progress or (lambda _m: None)
    graphs = split_graphs(dump_nquads)
    if None in graphs:
        raise StoreError(f"the dump has {len(graphs[None])} triples in the default graph; kg push only writes "
                         "named graphs. Rebuild the dump with 'kg build'")
    query_url, creds = split_credentials(endpoint, auth)
    target, target_creds = split_credentials(graph_store_url or update_url or endpoint, creds)
    names = sorted(g for g in graphs if g is not None)
    written = 0
    for index, graph in enumerate(names, 1):
        triples = sorted(set(graphs[graph]))
        data = "\n".join(triples) + "\n"
        if graph_store_url:
            url, method = _gsp_url(target, graph), "PUT"
            body, headers = data.encode("utf-8"), {"Content-Type": NTRIPLES}
        else:
            g = iri_ref(graph)
            update = f"DROP SILENT GRAPH {g} ;\nINSERT DATA {{ GRAPH {g} {{\n{data}}} }}\n"
            url, method = target, "POST"
            body, headers = update.encode("utf-8"), {"Content-Type": "application/sparql-update"}
        say(f"graph {index}/{len(names)}: {graph} ({len(triples)} triples)")
        try:
            call = functools.partial(_request, method, url, auth=target_creds, timeout=timeout, body=body,
                                     headers=headers)
            _with_retries(call, retries=retries, backoff=backoff, on_retry=say)
        except (_TransientError, EndpointError) as e:
            message = e.message if isinstance(e, _TransientError) else str(e)
            done = f"graphs 1-{index - 1} of {len(names)} were written" if index > 1 else "no graph was written"
            gone = isinstance(e, _TransientError)
            raise EndpointError(
                f"push stopped at graph {index} of {len(names)} <{graph}>: {message}"
                + (f" (gave up after {retries} retries)" if gone else "")
                + f". {done}; graph {index} was not changed. "
                + ("Start the server again and rerun 'kg push': it is idempotent" if gone
                   else "Fix the server's configuration (see docs/endpoints.md) and rerun 'kg push'")
            ) from None
        written += len(triples)
    remote = RemoteStore(query_url, timeout=timeout, auth=creds)
    sizes = remote.graph_sizes(names)
    wrong = [g for g in names if sizes.get(g, 0) != len(set(graphs[g]))]
    if wrong:
        first = wrong[0]
        raise EndpointError(f"after the push {len(wrong)} graphs on {query_url} differ from the dump, e.g. <{first}> "
                            f"has {sizes.get(first, 0)} triples, not {len(set(graphs[first]))}. Rerun 'kg push'")
    union = remote.query("ASK { ?s ?p ?o }").boolean
    return PushSummary(len(names), written, query_url, union)
