"""`kg push`: upload a built dataset to a SPARQL 1.1 server, one named graph per request.

:func:`push` uploads a canonical N-Quads dump one named graph at a time, each graph in one
request (Graph Store Protocol ``PUT``, or ``DROP SILENT GRAPH`` + ``INSERT DATA`` as one SPARQL
Update), so a graph is replaced whole or not at all, and pushing twice leaves the same data.
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
            call = functools.partial(http_request, method, url, auth=target_creds, timeout=timeout, body=body,
                                     headers=headers)
            with_retries(call, retries=retries, backoff=backoff, on_retry=say)
        except (TransientError, EndpointError) as e:
            message = e.message if isinstance(e, TransientError) else str(e)
            done = f"graphs 1-{index - 1} of {len(names)} were written" if index > 1 else "no graph was written"
            gone = isinstance(e, TransientError)
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
