"""`kg push`: upload a built dataset to a SPARQL 1.1 server, one named graph per request.

:func:`push` uploads a canonical N-Quads dump one named graph at a time, each graph in one
request (Graph Store Protocol ``PUT``, or ``DROP SILENT GRAPH`` + ``INSERT DATA`` as one SPARQL
Update), so a graph is replaced whole or not at all, and pushing twice leaves the same data.
Graphs of kg's namespace that an earlier push left and the dump no longer has (a deleted record,
say) are counted, and dropped with ``prune``.
"""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from kg.errors import StoreError
from kg.remote import (
    NTRIPLES,
    Auth,
    EndpointError,
    RemoteStore,
    TransientError,
    http_request,
    split_credentials,
    with_retries,
)
from kg.sparql_syntax import iri_ref, split_graphs
from kg.vocab import ID


@dataclass(frozen=True)
class PushSummary:
    graphs: int
    triples: int
    url: str
    union_default_graph: bool | None = None
    stale: int = 0  # graphs of kg's namespace on the server that the dump does not have (left there)
    dropped: int = 0  # such graphs dropped (prune)

    def line(self) -> str:
        dropped = f" Dropped {self.dropped} graphs the dump no longer has." if self.dropped else ""
        return f"Pushed {self.graphs} graphs ({self.triples} triples) to {self.url}.{dropped}"


OURS = str(ID)  # the graphs kg makes are named under here; graphs outside it are never dropped


def _gsp_url(graph_store: str, graph: str) -> str:
    joiner = "&" if "?" in graph_store else "?"
    return f"{graph_store}{joiner}{urllib.parse.urlencode({'graph': graph})}"


def push(dump_nquads: str, endpoint: str, *, graph_store_url: str | None = None, update_url: str | None = None,
         progress: Callable[[str], None] | None = None, retries: int = 3, backoff: float = 0.5,
         timeout: float = 60.0, auth: Auth | None = None, prune: bool = False) -> PushSummary:
    """Upload every named graph of dump_nquads to a SPARQL 1.1 server, one graph per request.

    With graph_store_url, each graph is replaced by a Graph Store Protocol PUT; otherwise by one
    SPARQL Update (``DROP SILENT GRAPH <g> ; INSERT DATA { GRAPH <g> { … } }``) sent to
    update_url (default: endpoint). Either way the server applies a graph whole or not at all,
    and pushing the same dump twice leaves the same data. Connection failures and 5xx answers are
    retried with backoff; a refusal (4xx) stops at once. Afterwards the triples per graph are
    counted through the query endpoint and must match the dump. With prune, the graphs named under
    kg's namespace that the dump does not have are dropped too (the same way: DELETE or DROP).

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
        say(f"graph {index}/{len(names)}: {graph} ({len(triples)} triples)")
        _send(graph, data, target, target_creds, graph_store=bool(graph_store_url), retries=retries, backoff=backoff,
              timeout=timeout, say=say, where=f"graph {index} of {len(names)}", kept=f"graph {index} was not changed",
              done=f"graphs 1-{index - 1} of {len(names)} were written" if index > 1 else "no graph was written")
        written += len(triples)
    remote = RemoteStore(query_url, timeout=timeout, auth=creds)
    stale = sorted(set(remote.graphs_under(OURS)) - set(names))
    if prune:
        for index, graph in enumerate(stale, 1):
            say(f"dropping {index}/{len(stale)}: {graph}, which the dump does not have")
            _send(graph, None, target, target_creds, graph_store=bool(graph_store_url), retries=retries,
                  backoff=backoff, timeout=timeout, say=say, where=f"old graph {index} of {len(stale)}",
                  kept=f"old graph {index} is still there",
                  done=f"every graph of the dump was written, and {index - 1} old graphs dropped")
    sizes = remote.graph_sizes(names)
    wrong = [g for g in names if sizes.get(g, 0) != len(set(graphs[g]))]
    if wrong:
        first = wrong[0]
        raise EndpointError(f"after the push {len(wrong)} graphs on {query_url} differ from the dump, e.g. <{first}> "
                            f"has {sizes.get(first, 0)} triples, not {len(set(graphs[first]))}. Rerun 'kg push'")
    if prune and remote.graph_sizes(stale):
        raise EndpointError(f"after the push, graphs the dump does not have are still on {query_url}. Rerun 'kg push "
                            "--prune'")
    union = remote.query("ASK { ?s ?p ?o }").boolean
    return PushSummary(len(names), written, query_url, union, stale=0 if prune else len(stale),
                       dropped=len(stale) if prune else 0)


def _send(graph: str, data: str | None, target: str, creds: Auth, *, graph_store: bool, retries: int,
          backoff: float, timeout: float, say: Callable[[str], None], where: str, kept: str, done: str) -> None:
    """Replace one graph on the server by data (None: drop it), in one request, retried when it may."""
    g = iri_ref(graph)
    if graph_store:
        url, method = _gsp_url(target, graph), "PUT" if data is not None else "DELETE"
        body, headers = (data or "").encode("utf-8"), {"Content-Type": NTRIPLES}
    else:
        insert = f" ;\nINSERT DATA {{ GRAPH {g} {{\n{data}}} }}\n" if data is not None else ""
        update = f"DROP SILENT GRAPH {g}{insert}"
        url, method = target, "POST"
        body, headers = update.encode("utf-8"), {"Content-Type": "application/sparql-update"}
    try:
        call = functools.partial(http_request, method, url, auth=creds, timeout=timeout, body=body, headers=headers)
        with_retries(call, retries=retries, backoff=backoff, on_retry=say)
    except (TransientError, EndpointError) as e:
        message = e.message if isinstance(e, TransientError) else str(e)
        gone = isinstance(e, TransientError)
        raise EndpointError(
            f"push stopped at {where} <{graph}>: {message}"
            + (f" (gave up after {retries} retries)" if gone else "")
            + f". {done}; {kept}. "
            + ("Start the server again and rerun 'kg push': it is idempotent" if gone
               else "Fix the server's configuration (see docs/endpoints.md) and rerun 'kg push'")
        ) from None
