"""`kg serve`: a SPARQL 1.1 Protocol endpoint over the store, with the views as pages.

Built on the standard library's ThreadingHTTPServer: the protocol is small, and no web framework
is worth a dependency for it. Each HTTP request runs on its own thread; each query runs in one of
a few worker processes that hold the store open read-only (through kg.store.Store). A query that
passes the timeout has its worker killed and replaced, so no query can hang a worker or the
server. Results are capped in rows; both limits answer with a plain-text error saying which limit
was hit and how to change it.

Read-only unless started with allow_update: SPARQL Update, the Graph Store Protocol's PUT, POST
and DELETE, answer 403. SERVICE is refused in every query (400), and LOAD always: the server
never reaches another host. With allow_update, INSERT DATA, DELETE DATA, CLEAR GRAPH and DROP
GRAPH on named graphs, and Graph Store Protocol writes, replace each changed graph atomically
with kg.store.replace_graph.

Routes: ``/sparql`` (``/query`` and ``/update`` are aliases), ``/store`` (Graph Store Protocol),
``/`` (landing page), ``/queries/<name>``, ``/view``, ``/trace/<id>``, ``/audit``.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import html
import io
import json
import os
import pickle
import queue
import re
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kg.errors import AmbiguousError, KgError, NotFoundError, QueryError, StoreError
from kg.model import Result, Term
from kg.remote import blank_literals, has_keyword, literal, query_form, split_graphs, term_syntax

MAX_QUERY_BYTES = 1 << 20
MAX_UPDATE_BYTES = 64 << 20
SD = "http://www.w3.org/ns/sparql-service-description#"
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


class QueryTimeoutError(QueryError):
    """The query ran past the server's timeout; its worker was stopped."""


class TooManyRowsError(QueryError):
    """The result is larger than the server's cap."""


class BusyError(KgError):
    """No worker became free in time."""


class RefusedError(KgError):
    """A write, SERVICE or LOAD the server does not allow."""


# ---------------------------------------------------------------------------------------------
# Workers: each holds the store open read-only and runs one query at a time


def _signature(path: str) -> tuple[int, tuple[str, ...]]:
    """Changes when the store is replaced or written (new RocksDB files); read-only opens leave it."""
    try:
        folder = Path(path)
        return folder.stat().st_ino, tuple(sorted(n.name for n in folder.iterdir() if not n.name.startswith("LOG")))
    except OSError:
        return 0, ()


def _read_exactly(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            raise EOFError("the other end closed the pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _send_message(fd: int, message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(struct.pack(">Q", len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _recv_message(fd: int) -> Any:
    (size,) = struct.unpack(">Q", _read_exactly(fd, 8))
    return pickle.loads(_read_exactly(fd, size))


def worker_main(path: str, max_rows: int) -> None:
    """A query worker: answers (sparql, params) on stdin with ("ok", Result) or ("error", kind, text).

    Runs in its own process (python -c), started by QueryPool; stdout is the reply channel, so
    anything else printed goes to stderr.
    """
    import resource

    from kg.store import Store

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the server stops us
    out = os.dup(1)
    os.dup2(2, 1)  # stray prints must not corrupt the reply channel
    with contextlib.suppress(ValueError, OSError):  # a runaway result fails this worker alone
        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
    store: Any = None
    seen: tuple[int, tuple[str, ...]] | None = None
    while True:
        try:
            message = _recv_message(0)
        except (EOFError, OSError):
            return
        if message is None:
            return
        sparql, params = message
        reply: tuple[Any, ...]
        try:
            now = _signature(path)
            if store is None or now != seen:
                store = None
                store = Store(Path(path))
                seen = now
            result = store.query(sparql, params=params)
            size = len(result.terms) if result.kind == "select" else result.ntriples.count("\n")
            if size > max_rows:
                reply = ("error", "rows", f"the result has {size} rows, more than this server's cap of {max_rows} "
                         "(kg serve --max-rows). Add LIMIT, or narrow the query")
            else:
                reply = ("ok", result)
        except KgError as e:
            reply = ("error", "query", str(e))
        except MemoryError:
            reply = ("error", "query", "the query needed more memory than a worker may use. Narrow it, or add LIMIT")
        except Exception as e:  # an engine failure must not take the worker's loop down silently
            reply = ("error", "query", f"the query failed: {type(e).__name__}: {e}")
        try:
            _send_message(out, reply)
        except OSError:
            return


@dataclass(eq=False)
class _Worker:
    process: subprocess.Popen[bytes]

    @property
    def stdin(self) -> int:
        return self.process.stdin.fileno()  # type: ignore[union-attr]

    @property
    def stdout(self) -> int:
        return self.process.stdout.fileno()  # type: ignore[union-attr]


class QueryPool:
    """Worker processes running queries with a hard timeout; a killed worker is replaced.

    Workers are plain subprocesses (python -c), not multiprocessing, so nothing re-imports the
    caller's __main__ (the kg console script) in the child.
    """

    def __init__(self, store_path: Path, *, size: int, timeout: float, max_rows: int) -> None:
        self.store_path, self.timeout, self.max_rows = str(store_path), timeout, max_rows
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(max(1, size)):
            self._idle.put(self._spawn())

    def _spawn(self) -> _Worker:
        code = f"from kg.server import worker_main; worker_main({self.store_path!r}, {self.max_rows})"
        process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   bufsize=0, close_fds=True)
        worker = _Worker(process)
        with self._lock:
            self._all.add(worker)
        return worker

    def _stop(self, worker: _Worker) -> None:
        worker.process.kill()
        worker.process.wait(5)
        for stream in (worker.process.stdin, worker.process.stdout):
            if stream is not None:
                stream.close()

    def _discard(self, worker: _Worker) -> None:
        self._stop(worker)
        with self._lock:
            self._all.discard(worker)
        if not self._closed:  # replace it off the request thread, so the error is answered at once
            threading.Thread(target=self._replace, daemon=True).start()

    def _replace(self) -> None:
        if not self._closed:
            self._idle.put(self._spawn())

    def run(self, sparql: str, params: Mapping[str, str] | None = None) -> Result:
        """Run one query; QueryTimeoutError, TooManyRowsError, QueryError or BusyError on failure."""
        wait = max(self.timeout, 5.0)
        try:
            worker = self._idle.get(timeout=wait)
        except queue.Empty:
            raise BusyError(f"every query worker stayed busy for {wait:g} s. Try again later") from None
        try:
            _send_message(worker.stdin, (sparql, dict(params or {})))
            ready, _, _ = select.select([worker.stdout], [], [], self.timeout)
            if not ready:
                self._discard(worker)
                raise QueryTimeoutError(f"the query ran longer than this server's timeout of {self.timeout:g} s "
                                        "(kg serve --timeout) and was stopped. Narrow it, or add LIMIT")
            reply = _recv_message(worker.stdout)
        except (EOFError, OSError, pickle.UnpicklingError, struct.error):
            self._discard(worker)
            raise QueryError("the query stopped its worker (out of memory?). Narrow it, or add LIMIT") from None
        self._idle.put(worker)
        if reply[0] == "ok":
            return reply[1]  # type: ignore[no-any-return]
        if reply[1] == "rows":
            raise TooManyRowsError(reply[2])
        raise QueryError(reply[2])

    def close(self) -> None:
        self._closed = True
        with self._lock:
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            with contextlib.suppress(OSError):
                _send_message(worker.stdin, None)
        for worker in workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(2)
            self._stop(worker)


class PoolStore:
    """The Queryable that tracing, auditing and views use: every query goes through the pool."""

    def __init__(self, pool: QueryPool) -> None:
        self.pool = pool

    def query(self, sparql: str, *, params: Mapping[str, str] | None = None, union: bool = True) -> Result:
        return self.pool.run(sparql, params)


# ---------------------------------------------------------------------------------------------
# Result formats


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


# ---------------------------------------------------------------------------------------------
# HTML


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


# ---------------------------------------------------------------------------------------------
# Writes (only with allow_update)


def _graph_lines(store: PoolStore, graph: str) -> set[str]:
    from kg.remote import iri_ref

    result = store.query(f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH {iri_ref(graph)} {{ ?s ?p ?o }} }}")
    return {line.strip() for line in result.ntriples.splitlines() if line.strip()}


def _nt(term: Any) -> str:
    from rdflib import BNode, Literal, URIRef

    from kg.remote import iri_ref

    if isinstance(term, URIRef):
        return iri_ref(str(term))
    if isinstance(term, Literal):
        return literal(str(term), datatype=str(term.datatype) if term.datatype else None, language=term.language)
    if isinstance(term, BNode):
        return f"_:{term}"
    raise RefusedError("INSERT DATA and DELETE DATA take data only, no variables")


def plan_update(sparql: str, store: PoolStore) -> dict[str, set[str]]:
    """The named graphs an update changes, each with its new N-Triples lines.

    Only data operations are supported: INSERT DATA, DELETE DATA, CLEAR GRAPH and DROP GRAPH on
    named graphs. Everything else is refused with a message saying so.
    """
    from rdflib.plugins.sparql.algebra import translateUpdate
    from rdflib.plugins.sparql.parser import parseUpdate

    try:
        requests = translateUpdate(parseUpdate(sparql)).algebra
    except Exception as e:  # pyparsing's ParseException and rdflib's own errors
        raise QueryError(f"invalid SPARQL Update: {str(e).splitlines()[0]}") from None
    graphs: dict[str, set[str]] = {}

    def current(graph: str) -> set[str]:
        if graph not in graphs:
            graphs[graph] = _graph_lines(store, graph)
        return graphs[graph]

    for request in requests:
        name = request.name
        if name in ("InsertData", "DeleteData"):
            if request.get("triples"):
                raise RefusedError("kg serve writes named graphs only: put the triples in GRAPH <iri> { … }")
            for graph, triples in (request.get("quads") or {}).items():
                lines = {f"{_nt(s)} {_nt(p)} {_nt(o)} ." for s, p, o in triples}
                target = current(str(graph))
                target |= lines if name == "InsertData" else set()
                target -= lines if name == "DeleteData" else set()
        elif name in ("Clear", "Drop") and str(request.get("graphiri")).startswith(("http://", "https://", "urn:")):
            graphs[str(request.get("graphiri"))] = set()
        elif name == "Load":
            raise RefusedError("LOAD is refused: kg serve never fetches data from other hosts")
        else:
            raise RefusedError(f"{name} is not supported by kg serve: use INSERT DATA, DELETE DATA, CLEAR GRAPH <g>, "
                               "DROP GRAPH <g>, or the Graph Store Protocol at /store")
    return graphs


# ---------------------------------------------------------------------------------------------
# HTTP


@dataclass
class Config:
    store_path: Path
    timeout: float = 10.0
    max_rows: int = 10_000
    allow_update: bool = False


class KgHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], config: Config, pool: QueryPool) -> None:
        super().__init__(address, Handler)
        self.config, self.pool, self.store = config, pool, PoolStore(pool)
        self.write_lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{name if ':' not in name else f'[{name}]'}:{port}"


class Handler(BaseHTTPRequestHandler):
    server: KgHTTPServer
    protocol_version = "HTTP/1.1"
    timeout = 60  # a client that stops sending cannot hold a thread for longer
    server_version = "kg-serve"

    def log_message(self, format: str, *args: Any) -> None:
        if os.environ.get("KG_SERVE_LOG") == "1":
            super().log_message(format, *args)

    # --- plumbing -----------------------------------------------------------------------------

    def _send(self, status: int, body: str | bytes, media: str, *, headers: Mapping[str, str] | None = None) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        charset = "; charset=utf-8" if media.startswith("text/") or media.endswith(("json", "xml", "triples")) else ""
        self.send_header("Content-Type", media + charset)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Expose-Headers", "Content-Type")
        self.send_header("Vary", "Accept")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        if media == "text/html":
            self.send_header("Content-Security-Policy", CSP)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        if "text/html" in self.headers.get("Accept", "") and not self.path.startswith(("/sparql", "/query", "/update")):
            self._send(status, error_page(status, message), "text/html")
        else:
            self._send(status, f"{HTTPStatus(status).phrase}: {message}\n", "text/plain")

    def _body(self, limit: int) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > limit:
            self.close_connection = True
            self._error(413, f"the request body is {length} bytes; this server takes at most {limit}")
            return None
        return self.rfile.read(length) if length else b""

    def _route(self) -> tuple[str, dict[str, list[str]]]:
        parts = urllib.parse.urlsplit(self.path)
        return parts.path, urllib.parse.parse_qs(parts.query, keep_blank_values=True)

    def _guard(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except RefusedError as e:
            self._error(403, str(e))
        except (QueryTimeoutError, BusyError) as e:
            self._error(503, str(e))
        except TooManyRowsError as e:
            self._error(413, str(e))
        except NotFoundError as e:
            self._error(404, str(e))
        except (QueryError, AmbiguousError) as e:
            self._error(400, str(e))
        except KgError as e:
            self._error(500, str(e))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # a bug must still answer the client, not drop the connection
            self.close_connection = True
            self._error(500, f"internal error ({type(e).__name__}: {e}). Please report it")

    # --- methods ------------------------------------------------------------------------------

    def do_OPTIONS(self) -> None:
        methods = "GET, POST, OPTIONS" + (", PUT, DELETE" if self.server.config.allow_update else "")
        self._send(204, b"", "text/plain", headers={
            "Access-Control-Allow-Methods": methods,
            "Access-Control-Allow-Headers": "Accept, Content-Type, Authorization",
            "Access-Control-Max-Age": "600", "Allow": methods})

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        self._guard(self._get)

    def do_POST(self) -> None:
        self._guard(self._post)

    def do_PUT(self) -> None:
        self._guard(lambda: self._graph_store_write("PUT"))

    def do_DELETE(self) -> None:
        self._guard(lambda: self._graph_store_write("DELETE"))

    def _get(self) -> None:
        path, args = self._route()
        if path in ("/sparql", "/query"):
            if "update" in args:
                raise RefusedError("updates are refused on GET; POST them" if self.server.config.allow_update
                                   else "this endpoint is read-only (start kg serve with --allow-update to write)")
            if "query" not in args:
                self._service_description()
                return
            self._query(args["query"][0], args)
        elif path == "/":
            self._send(200, landing(allow_update=self.server.config.allow_update), "text/html")
        elif path.startswith("/queries/"):
            self._named(urllib.parse.unquote(path.removeprefix("/queries/")), args)
        elif path == "/view":
            self._view(args)
        elif path == "/trace" or path.startswith("/trace/"):
            ref = urllib.parse.unquote(path.removeprefix("/trace").lstrip("/")) or _arg(args, "ref")
            self._trace(ref, args)
        elif path == "/audit":
            self._audit(args)
        elif path == "/store":
            self._graph_store_read(args)
        elif path == "/favicon.ico":
            self._send(204, b"", "text/plain")
        else:
            raise NotFoundError(f"no page {path}. Start at /")

    def _post(self) -> None:
        path, args = self._route()
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if path == "/store":
            self._graph_store_write("POST")
            return
        if path not in ("/sparql", "/query", "/update"):
            raise NotFoundError(f"no endpoint {path}. POST queries to /sparql")
        is_update = ctype == "application/sparql-update"
        body = self._body(MAX_UPDATE_BYTES if self.server.config.allow_update else MAX_QUERY_BYTES)
        if body is None:
            return
        text = body.decode("utf-8", "replace")
        if ctype == "application/x-www-form-urlencoded":
            form = urllib.parse.parse_qs(text, keep_blank_values=True)
            args = {**args, **form}
            if "update" in form:
                is_update, text = True, form["update"][0]
            elif "query" in form:
                text = form["query"][0]
            else:
                raise QueryError("the form has neither query= nor update=")
        elif ctype not in ("application/sparql-query", "application/sparql-update"):
            self._error(415, f"POST a query as application/sparql-query or a form, not {ctype or 'no type'}")
            return
        if is_update:
            self._update(text)
        else:
            self._query(text, args)

    # --- SPARQL ---------------------------------------------------------------------------------

    def _check(self, sparql: str, args: Mapping[str, list[str]]) -> None:
        if not sparql.strip():
            raise QueryError("the query is empty. Send query=SELECT …")
        unescaped = re.sub(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})",  # SPARQL's codepoint escapes
                           lambda m: chr(min(int(m.group(1) or m.group(2), 16), 0x10FFFF)), sparql)
        if has_keyword(sparql, "SERVICE") or has_keyword(unescaped, "SERVICE"):
            raise QueryError("SERVICE is refused: kg serve never sends queries to other endpoints. "
                             "Remove the SERVICE block")
        if args.get("default-graph-uri") or args.get("named-graph-uri"):
            raise QueryError("default-graph-uri and named-graph-uri are not supported: use FROM or GRAPH in the query "
                             "(the default graph is the union of all named graphs)")
        if query_form(sparql) == "update":
            raise RefusedError("this is an update: send it as update= (POST), and the server must allow updates")

    def _query(self, sparql: str, args: Mapping[str, list[str]]) -> None:
        self._check(sparql, args)
        result = self.server.pool.run(sparql)
        self._result(result, args, title="Query results", sparql=sparql)

    def _result(self, result: Result, args: Mapping[str, list[str]], *, title: str, sparql: str) -> None:
        accept = self.headers.get("Accept") or "*/*"
        forced = _arg(args, "format")
        if result.kind == "graph":
            fmt = forced if forced in ("turtle", "nt", "jsonld", "html") else negotiate(accept, GRAPH_TYPES, "turtle")
        else:
            fmt = forced if forced in ("json", "xml", "csv", "tsv", "html") else negotiate(accept, ROW_TYPES, "json")
        if fmt == "html":
            body = f"{html_table(result)}\n<h2>SPARQL</h2>\n<pre>{html.escape(sparql)}</pre>"
            self._send(200, page(title, body), "text/html")
        elif result.kind == "graph":
            self._send(200, graph_text(result.ntriples, fmt), MEDIA[fmt])
        else:
            self._send(200, results_text(result, fmt), MEDIA[fmt])

    def _service_description(self) -> None:
        fmt = negotiate(self.headers.get("Accept") or "*/*", GRAPH_TYPES, "turtle")
        fmt = "turtle" if fmt == "html" else fmt
        host = self.headers.get("Host") or self.server.url.removeprefix("http://")
        text = service_description(f"http://{host}", allow_update=self.server.config.allow_update)
        self._send(200, graph_text(text, fmt), MEDIA[fmt])

    def _update(self, sparql: str) -> None:
        if not self.server.config.allow_update:
            raise RefusedError("this endpoint is read-only: SPARQL Update is refused "
                               "(start kg serve with --allow-update to write)")
        if has_keyword(sparql, "SERVICE") or has_keyword(sparql, "LOAD"):
            raise RefusedError("SERVICE and LOAD are refused: kg serve never reaches other hosts")
        with self.server.write_lock:
            self._write(plan_update(sparql, self.server.store))
        self._send(204, b"", "text/plain")

    def _write(self, graphs: Mapping[str, set[str]]) -> None:
        from kg.store import build_lock, replace_graph

        with build_lock(self.server.config.store_path):
            for graph, lines in graphs.items():
                nquads = "".join(f"{line[:-1].rstrip()} <{graph}> .\n" for line in sorted(lines))
                replace_graph(self.server.config.store_path, graph, nquads)

    # --- Graph Store Protocol ------------------------------------------------------------------------

    def _graph_arg(self, args: Mapping[str, list[str]]) -> str:
        from kg.remote import iri_ref

        graph = _arg(args, "graph")
        if not graph:
            raise QueryError("name the graph: /store?graph=<IRI> (kg serve has no writable default graph)")
        iri_ref(graph)
        return graph

    def _graph_store_read(self, args: Mapping[str, list[str]]) -> None:
        graph = self._graph_arg(args)
        lines = _graph_lines(self.server.store, graph)
        if not lines:
            raise NotFoundError(f"no graph <{graph}> in the store")
        fmt = negotiate(self.headers.get("Accept") or "*/*", GRAPH_TYPES, "turtle")
        fmt = "turtle" if fmt == "html" else fmt
        self._send(200, graph_text("\n".join(sorted(lines)) + "\n", fmt), MEDIA[fmt])

    def _graph_store_write(self, method: str) -> None:
        path, args = self._route()
        if path != "/store":
            raise NotFoundError(f"no graph store at {path}: use /store?graph=<IRI>")
        if not self.server.config.allow_update:
            self.close_connection = True  # the body is not read
            raise RefusedError("this endpoint is read-only: Graph Store Protocol writes are refused "
                               "(start kg serve with --allow-update to write)")
        graph = self._graph_arg(args)
        body = self._body(MAX_UPDATE_BYTES)
        if body is None:
            return
        lines: set[str] = set()
        if method != "DELETE":
            lines = _parse_graph_body(body, self.headers.get("Content-Type", ""))
        with self.server.write_lock:
            if method == "POST":
                lines |= _graph_lines(self.server.store, graph)
            self._write({graph: lines})
        self._send(204, b"", "text/plain")

    # --- pages ----------------------------------------------------------------------------------

    def _named(self, name: str, args: Mapping[str, list[str]]) -> None:
        from kg.queries import describe, load

        sparql = load(name)
        params = {k: v[0] for k, v in args.items() if k != "format"}
        result = self.server.pool.run(sparql, params)
        self._result(result, {"format": [_arg(args, "format") or "html"]}, title=f"{name}: {describe(sparql)}",
                     sparql=sparql)

    def _render(self, view: Any, title: str) -> None:
        from kg.views import render_html

        text = render_html(view, title=title)
        m = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', text)
        headers = {"Content-Security-Policy": html.unescape(m.group(1))} if m else {}
        data = text.encode("utf-8")
        self.send_response(200)
        for key, value in {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(len(data)),
                           "Access-Control-Allow-Origin": "*", "X-Content-Type-Options": "nosniff",
                           "Referrer-Policy": "no-referrer", **headers}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _view(self, args: Mapping[str, list[str]]) -> None:
        from kg.queries import is_name, load
        from kg.viewdata import from_construct, neighbourhood, resolve_node, whole_graph

        store, limit = self.server.store, _int(args, "limit", 500)
        if focus := _arg(args, "focus"):
            iri = resolve_node(focus)
            view = neighbourhood(store, iri, depth=_int(args, "depth", 1), limit=limit)
            centre = view.node(iri)
            title = f"Around {centre.label if centre else focus}"
        elif name := _arg(args, "query"):
            if not is_name(name):
                raise NotFoundError(f"no named query {name!r}. See the list at /")
            view, title = from_construct(store, load(name), limit=limit), f"Query: {name}"
        else:
            view, title = whole_graph(store, limit=limit), "kg: the whole graph"
        self._render(view, title)

    def _trace(self, ref: str, args: Mapping[str, list[str]]) -> None:
        from kg.tracing import trace, trace_source
        from kg.tree import render_trace

        source = _arg(args, "source")
        if not ref and not source:
            raise QueryError("give a claim or quote: /trace/<id>, /trace?ref=<text> or /trace?source=<id>")
        tree = trace_source(self.server.store, source) if source else trace(self.server.store, ref)
        fmt = _arg(args, "format")
        if fmt == "json":
            self._send(200, json.dumps(tree, indent=2, ensure_ascii=False) + "\n", "application/json")
        elif fmt == "text":
            self._send(200, page(f"Trace of {ref or source}", f"<pre>{html.escape(render_trace(tree))}</pre>"),
                       "text/html")
        else:
            from kg.trace_view import trace_view

            self._render(trace_view(self.server.store, tree), f"Trace of {ref or source}")

    def _audit(self, args: Mapping[str, list[str]]) -> None:
        from kg.auditing import audit
        from kg.tree import render_audit

        report = audit(self.server.store, _arg(args, "source") or None, traces=False)
        fmt = _arg(args, "format")
        if fmt == "json":
            self._send(200, json.dumps(report, indent=2, ensure_ascii=False) + "\n", "application/json")
        elif fmt == "text":
            self._send(200, page("Audit", f"<pre>{html.escape(render_audit(report))}</pre>"), "text/html")
        else:
            from kg.trace_view import audit_view

            self._render(audit_view(self.server.store, report), f"Audit of {report['analysis']['id']}")


def _arg(args: Mapping[str, list[str]], name: str) -> str:
    values = args.get(name)
    return values[0] if values else ""


def _int(args: Mapping[str, list[str]], name: str, default: int) -> int:
    try:
        return max(0, int(_arg(args, name) or default))
    except ValueError:
        raise QueryError(f"{name} must be a whole number") from None


def _parse_graph_body(body: bytes, content_type: str) -> set[str]:
    media = content_type.split(";")[0].strip().lower()
    text = body.decode("utf-8", "replace")
    if media in ("text/turtle", "application/x-turtle"):
        import rdflib

        try:
            graph = rdflib.Graph().parse(data=text, format="turtle")
        except Exception as e:  # rdflib raises several parser exception types
            raise QueryError(f"the Turtle body does not parse: {str(e).splitlines()[0]}") from None
        return {f"{_nt(s)} {_nt(p)} {_nt(o)} ." for s, p, o in graph}
    if media not in ("application/n-triples", "text/plain", ""):
        raise QueryError(f"send the graph as application/n-triples or text/turtle, not {media}")
    try:
        graphs = split_graphs(text)
    except StoreError as e:
        raise QueryError(str(e).replace("of the dump ", "").replace(". Rebuild it with 'kg build'", "")) from None
    if set(graphs) - {None}:
        raise QueryError("the body has quads: send triples (N-Triples) for one graph")
    return set(graphs.get(None, []))


# ---------------------------------------------------------------------------------------------
# Running


class Server:
    """kg serve in a thread: start(), .url, close(). The CLI runs serve_forever() in the foreground."""

    def __init__(self, store_path: Path, *, host: str = "127.0.0.1", port: int = 7878, timeout: float = 10.0,
                 max_rows: int = 10_000, allow_update: bool = False, workers: int | None = None) -> None:
        from kg.store import Store

        Store(store_path)  # fail now, with the usual message, if there is no store
        self.config = Config(store_path, timeout, max_rows, allow_update)
        self.pool = QueryPool(store_path, size=workers or min(4, os.cpu_count() or 2), timeout=timeout,
                              max_rows=max_rows)
        try:
            self.httpd = KgHTTPServer((host, port), self.config, self.pool)
        except OSError as e:
            self.pool.close()
            raise StoreError(f"cannot listen on {host}:{port}: {e.strerror or e}. Pick another --port") from e
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.httpd.url

    def start(self) -> Server:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        daemon=True, name="kg-serve")
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        try:
            self.httpd.serve_forever(poll_interval=0.2)
        finally:
            self.close()

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self.httpd.server_close()
        self.pool.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_until_up(url: str, *, seconds: float = 20.0) -> None:
    """Block until the server at url answers (for scripts and tests)."""
    import urllib.request

    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{url}/sparql?query=ASK%7B%7D", timeout=5) as r:
                r.read()
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


__all__ = ["Server", "blank_literals", "negotiate", "results_text", "wait_until_up"]
