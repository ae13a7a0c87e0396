"""Timing and peak memory of child processes, and medians.

Every measurement runs in a child process of its own, so that its peak memory is its own and
imports or caches of one measurement never help another. Peak memory is the largest total
proportional set size (PSS) of the child's whole process tree (the build forks workers on every
core), sampled from /proc every 10 ms for the first second and every 100 ms after; without /proc it
is the largest single process's resident set, from getrusage.

Sampling costs the harness CPU (reading a 150 MB process's PSS takes 2 ms), which a measured
process that keeps both cores busy loses: where a ratio of times is the point (:func:`in_turn`),
the timed runs are not sampled, and one more run of each is, for its memory only.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
SAMPLE_FAST, SAMPLE_SLOW = 0.01, 0.1  # seconds between memory samples: in the first second, then after


@dataclass
class Sample:
    """One run of a child process."""

    seconds: float
    peak_bytes: int
    returncode: int
    stdout: str = ""
    stderr: str = ""
    result: Any = None  # what an in-process measurement printed as JSON on its last line
    timed: bool = True  # False: a run made for its memory only, whose time is not counted


@dataclass
class Measurement:
    """Several runs of one thing: the medians are what the report shows."""

    name: str
    samples: list[Sample] = field(default_factory=list)
    note: str = ""

    @property
    def seconds(self) -> float:
        return statistics.median(s.seconds for s in self.samples if s.timed)

    @property
    def peak_bytes(self) -> int:
        """The median peak of the runs whose memory was sampled."""
        return int(statistics.median([s.peak_bytes for s in self.samples if s.peak_bytes] or [0]))

    @property
    def runs(self) -> int:
        return sum(s.timed for s in self.samples)

    def result(self, key: str) -> float:
        """The median of one number the child reported."""
        return statistics.median(float(s.result[key]) for s in self.samples)


def _tree_rss(root: int) -> int:
    """Memory of root and all its descendants, now: the sum of their proportional set sizes (PSS).

    PSS splits each shared page among the processes that map it, so the workers the build forks
    (which share the parent's pages until they write them) are not counted twice; where PSS is
    not available, the resident set size is used.
    """
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry.name}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)  # fields[1] is the parent pid
        rss[pid] = int(fields[21]) * PAGE  # resident pages
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += _pss(pid, rss.get(pid, 0))
        todo.extend(children.get(pid, ()))
    return total


def _pss(pid: int, fallback: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text(encoding="ascii").splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return fallback


def run(argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None,
        timeout: float | None = None, check: bool = True, sample_memory: bool = True) -> Sample:
    """Run argv; wall time from start to exit, and the peak memory of its process tree (0 if not sampled)."""
    started = time.perf_counter()
    proc = subprocess.Popen(list(argv), cwd=cwd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        # Every 10 ms for the first second, then every 100 ms: reading the PSS of a large process tree
        # costs the harness CPU, and at 10 ms throughout it took half a core from what it measured.
        while not done.wait(SAMPLE_FAST if time.perf_counter() - started < 1.0 else SAMPLE_SLOW):
            with contextlib.suppress(OSError):
                peak = max(peak, _tree_rss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    if sample_memory and Path("/proc/self/stat").exists():
        sampler.start()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - started
    done.set()
    if sampler.is_alive():
        sampler.join()
    if peak == 0 and sample_memory:
        peak = _rusage_peak()
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{stderr[-3000:]}")
    result = None
    if stdout.strip():
        try:
            result = json.loads(stdout.strip().splitlines()[-1])
        except json.JSONDecodeError:
            result = None
    return Sample(seconds, peak, proc.returncode, stdout, stderr, result)


def _rusage_peak() -> int:
    import resource

    kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return kib * 1024 if sys.platform != "darwin" else kib


def python(code: str, *args: str, **kwargs: Any) -> Sample:
    """Run Python code in a child interpreter (the venv's)."""
    return run([sys.executable, "-c", code, *args], **kwargs)


def repeat(name: str, runs: int, once: Callable[[int], Sample], *, before: Callable[[int], None] | None = None,
           note: str = "") -> Measurement:
    """Measure once() runs times (before(i) prepares run i and is not timed)."""
    m = Measurement(name, note=note)
    for i in range(runs):
        if before is not None:
            before(i)
        m.samples.append(once(i))
    return m


def in_turn(runs: int, *measured: tuple[str, Callable[[bool], Sample], Callable[[int], None]]) -> list[Measurement]:
    """Measure several things in turn (a b a b ...), so that a drift in the machine's speed falls on
    all of them alike; then run each once more, sampling its memory (the timed runs are not sampled).

    Each is (name, once, before): once(sample_memory) runs it, before(i) prepares run i untimed.
    """
    out = [Measurement(name) for name, _once, _before in measured]
    for i in range(runs + 1):
        for m, (_name, once, before) in zip(out, measured, strict=True):
            before(i)
            sample = once(i == runs)
            sample.timed = i < runs
            m.samples.append(sample)
    return out


def machine() -> dict[str, str]:
    """What the report says about where it ran."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text(encoding="utf-8").split()[1])
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": memory, "os": platform.platform(),
            "python": platform.python_version(), "load": load}


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit in ("B", "KiB") else f"{n:.1f} {unit}" if n < 10 else f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.0f} GiB"


def human_seconds(s: float) -> str:
    if s < 0.001:
        return f"{s * 1_000_000:.0f} µs"
    if s < 1:
        return f"{s * 1000:.1f} ms" if s < 0.1 else f"{s * 1000:.0f} ms"
    if s < 100:
        return f"{s:.2f} s"
    return f"{s:.0f} s"
