"""A remote SPARQL 1.1 endpoint as the store: RemoteStore, and the HTTP client kg push shares.

:class:`RemoteStore` answers the same ``query(sparql, *, params) -> Result`` as
:class:`kg.store.Store`, over HTTP with the standard library only: SELECT and ASK come back as
SPARQL 1.1 Query Results JSON, CONSTRUCT and DESCRIBE as N-Triples. The predeclared prefixes are
sent as PREFIX lines. Parameters are bound with a ``VALUES`` block put first in the query's
WHERE group, built from validated, escaped terms: user text never becomes SPARQL syntax.

Writing to an endpoint is kg.push's job.

The remote server must treat its default graph as the union of the named graphs, as the embedded
store is queried: see docs/endpoints.md for Fuseki, Oxigraph server and GraphDB.
"""

from __future__ import annotations

import base64
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
from kg.sparql_syntax import RDF_LANG_STRING, XSD_STRING, bind, iri_ref, literal, prologue, query_form, term_syntax

JSON_RESULTS = "application/sparql-results+json"
NTRIPLES = "application/n-triples"


class EndpointError(StoreError):
    """A remote SPARQL endpoint cannot be reached, refused a request, or answered nonsense."""


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


class TransientError(Exception):
    """A failure worth retrying: connection refused or reset, timeout, 5xx."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def http_request(method: str, url: str, *, auth: Auth, timeout: float, body: bytes | None = None,
             headers: Mapping[str, str] | None = None) -> tuple[int, str, bytes]:
    """(status, content type, body) of one HTTP request; TransientError or EndpointError on failure."""
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
            raise TransientError(message) from None
        hint = {401: ". Give credentials: https://user:password@host/… or KG_ENDPOINT_USER/KG_ENDPOINT_PASSWORD",
                403: ". The server refuses this: check its permissions (writes need an update-enabled endpoint)",
                404: ". Check the URL: it must be the endpoint itself, e.g. http://host:3030/ds/sparql"}
        raise EndpointError(message + hint.get(e.code, "")) from None
    except TimeoutError:
        raise TransientError(f"{url} did not answer within {timeout:g} s") from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise TransientError(f"{url} did not answer within {timeout:g} s") from None
        if isinstance(reason, ConnectionRefusedError):
            raise TransientError(f"cannot connect to {url}: connection refused") from None
        if isinstance(reason, socket.gaierror):
            raise EndpointError(f"cannot connect to {url}: unknown host. Check the endpoint URL") from None
        raise TransientError(f"cannot connect to {url}: {getattr(reason, 'strerror', None) or reason}") from None
    except (ConnectionError, http.client.HTTPException) as e:
        raise TransientError(f"{url} closed the connection ({type(e).__name__})") from None


def with_retries(call: Callable[[], tuple[int, str, bytes]], *, retries: int, backoff: float,
                  on_retry: Callable[[str], None] | None = None) -> tuple[int, str, bytes]:
    for attempt in range(retries + 1):
        try:
            return call()
        except TransientError as e:
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
            _, _, data = with_retries(
                lambda: http_request("POST", self.url, auth=self.auth, timeout=self.timeout, body=body,
                                     headers=headers),
                retries=1, backoff=0.2)
        except TransientError as e:
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
        return self.query(sparql, params=params).select_rows()

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

    def graphs_under(self, prefix: str) -> list[str]:
        """The named graphs on the server whose IRI starts with prefix."""
        where = f"GRAPH ?g {{ ?s ?p ?o }} FILTER (STRSTARTS(STR(?g), {literal(prefix)}))"
        rows = self.query(f"SELECT DISTINCT ?g WHERE {{ {where} }}")
        return sorted(str(g) for (g,) in rows.rows().values if g is not None)

    def nquads(self) -> str:
        """Every quad of the named graphs, as canonical sorted N-Quads (for kg validate)."""
        result = self.query("SELECT ?s ?p ?o ?g WHERE { GRAPH ?g { ?s ?p ?o } }")
        lines = {" ".join(term_syntax(t) for t in row if t is not None) + " .\n" for row in result.terms}
        return "".join(sorted(lines))

