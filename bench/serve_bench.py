"""Load benchmark of `kg serve`: concurrent clients on loopback, named queries mixed.

``run()`` starts kg serve on an ephemeral 127.0.0.1 port over a store built from sources/ in a
temporary directory, then drives it from CLIENTS threads for DURATION_S seconds (and at most
MAX_REQUESTS requests in all), each POSTing named queries in turn with the SPARQL protocol and
reading the whole JSON answer. It returns one dict per figure (name, value, unit, target, ok,
note), as bench/view_bench.py does: throughput, p50 and p99 latency, and errors.

Run alone with ``python -m bench.serve_bench`` (add ``--store PATH`` to use a built store).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from kg.prefixes import PREFIXES
from kg.queries import list_queries, load
from kg.server import Server

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = 8
WORKERS = 2  # the machine has 2 cores
DURATION_S = 10.0
MAX_REQUESTS = 20_000
# Queries left out of the mix because they would measure themselves, not the server (none since
# disagreements.rq was rewritten to read assertion graphs first: 10 s -> 0.2 s).
SLOW: set[str] = set()
TARGET_RPS = 50.0
TARGET_P99_MS = 1_000.0


def _mix() -> list[tuple[str, str]]:
    prologue = "".join(f"PREFIX {p}: <{ns}>\n" for p, ns in PREFIXES.items())
    return [(name, prologue + load(name)) for name, _ in list_queries() if name not in SLOW]


def _client(url: str, mix: list[tuple[str, str]], offset: int, stop_at: float, budget: list[int],
            lock: threading.Lock, latencies: list[float], errors: list[str]) -> None:
    i = offset
    while time.monotonic() < stop_at:
        with lock:
            if budget[0] <= 0:
                return
            budget[0] -= 1
        name, sparql = mix[i % len(mix)]
        i += 1
        graph = "CONSTRUCT" in sparql
        request = urllib.request.Request(
            f"{url}/sparql", data=urllib.parse.urlencode({"query": sparql}).encode(),
            headers={"Accept": "application/n-triples" if graph else "application/sparql-results+json",
                     "Content-Type": "application/x-www-form-urlencoded"})
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                body = response.read()
            if not graph:
                json.loads(body)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
        except (OSError, ValueError) as e:
            with lock:
                errors.append(f"{name}: {e}")


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def measure(store: Path, *, clients: int = CLIENTS, duration: float = DURATION_S, workers: int = WORKERS,
            max_requests: int = MAX_REQUESTS) -> list[dict[str, object]]:
    mix = _mix()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    budget = [max_requests]
    with Server(store, port=0, timeout=30, workers=workers) as server:
        for _, sparql in mix:  # warm up: every worker opens the store, the engine plans each query
            warm = f"{server.url}/sparql?{urllib.parse.urlencode({'query': sparql})}"
            urllib.request.urlopen(warm, timeout=60).read()
        started = time.monotonic()
        threads = [threading.Thread(target=_client, args=(server.url, mix, k * 3, started + duration, budget, lock,
                                                          latencies, errors)) for k in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(duration + 120)
        elapsed = time.monotonic() - started
    done = len(latencies)
    rps = done / elapsed if elapsed else 0.0
    p50 = _percentile(latencies, 50) * 1000 if latencies else float("nan")
    p99 = _percentile(latencies, 99) * 1000 if latencies else float("nan")
    setup = (f"{clients} clients, {workers} query workers, {elapsed:.1f} s on 127.0.0.1, {done} answers; "
             f"{len(mix)} named queries in turn" + (f" (not {', '.join(sorted(SLOW))})" if SLOW else ""))
    return [
        {"name": "serve: throughput, named queries mixed", "value": round(rps, 1), "unit": "requests/s",
         "target": TARGET_RPS, "ok": rps >= TARGET_RPS, "note": setup},
        {"name": "serve: latency p50", "value": round(p50, 1), "unit": "ms", "target": None, "ok": True,
         "note": f"mean {statistics.fmean(latencies) * 1000:.1f} ms" if latencies else "no answers"},
        {"name": "serve: latency p99", "value": round(p99, 1), "unit": "ms", "target": TARGET_P99_MS,
         "ok": p99 <= TARGET_P99_MS, "note": f"max {max(latencies) * 1000:.1f} ms" if latencies else "no answers"},
        {"name": "serve: errors", "value": len(errors), "unit": "requests", "target": 0, "ok": not errors,
         "note": "; ".join(errors[:3]) or "every answer complete and parsed"},
    ]


def run(store: Path | None = None) -> list[dict[str, object]]:
    """Build sources/ into a temporary store (unless one is given) and measure kg serve on it."""
    if store is not None:
        return measure(store)
    workdir = Path(tempfile.mkdtemp(prefix="kg-serve-bench-"))
    try:
        built = workdir / "store"
        subprocess.run([sys.executable, "-m", "kg", "--store", str(built), "build", str(ROOT / "sources")],
                       check=True, capture_output=True)
        return measure(built)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=None, help="a store built by kg build [default: build one]")
    for row in run(parser.parse_args().store):
        print(row)
