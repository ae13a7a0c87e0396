"""The HTTP request handler of `kg serve`: routes, the SPARQL 1.1 Protocol, the Graph Store Protocol, pages."""

from __future__ import annotations

import html
import json
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from kg.errors import AmbiguousError, KgError, NotFoundError, QueryError
from kg.model import Result
from kg.serve_formats import GRAPH_TYPES, MEDIA, ROW_TYPES, graph_text, negotiate, results_text
from kg.serve_pages import CSP, error_page, html_table, landing, page, service_description
from kg.serve_pool import BusyError, QueryTimeoutError, TooManyRowsError
from kg.serve_writes import RefusedError, graph_lines, parse_graph_body, plan_update
from kg.sparql_syntax import has_keyword, iri_ref, query_form

if TYPE_CHECKING:
    from kg.server import KgHTTPServer

MAX_QUERY_BYTES = 1 << 20
MAX_UPDATE_BYTES = 64 << 20


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
        graph = _arg(args, "graph")
        if not graph:
            raise QueryError("name the graph: /store?graph=<IRI> (kg serve has no writable default graph)")
        iri_ref(graph)
        return graph

    def _graph_store_read(self, args: Mapping[str, list[str]]) -> None:
        graph = self._graph_arg(args)
        lines = graph_lines(self.server.store, graph)
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
            lines = parse_graph_body(body, self.headers.get("Content-Type", ""))
        with self.server.write_lock:
            if method == "POST":
                lines |= graph_lines(self.server.store, graph)
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
