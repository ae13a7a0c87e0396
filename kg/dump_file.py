"""The canonical dump as sorted N-Quads lines: splitting text into lines, splicing the dump, merging line files."""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from kg.build import quad_terms
from kg.errors import KgError

# ---- N-Quads lines -------------------------------------------------------------------------------


def lines_of(text: str) -> list[str]:
    """The lines of N-Quads text, each with its newline; only "\\n" ends a line (unlike str.splitlines,
    which also splits at U+2028, U+0085 and other characters a literal may hold)."""
    lines = [line + "\n" for line in text.split("\n")]
    if lines[-1] == "\n":
        lines.pop()
    else:
        lines[-1] = lines[-1][:-1]
    return lines


def chain_lines(texts: Iterable[str]) -> Iterator[str]:
    for text in texts:
        yield from lines_of(text)


def graphs_of(lines: str) -> set[str]:
    return {quad_terms(line)[3][1:-1] for line in lines_of(lines)}


# ---- the dump ------------------------------------------------------------------------------------


def splice(old: Path, new: Path, *, remove: Sequence[str], add: Sequence[str]) -> None:
    """Write new: the sorted lines of old, less remove, plus add (each sorted; no line in both).

    The unchanged runs between edits are copied by the kernel (copy_file_range) where it can.

    Raises:
        KgError: a line to remove is missing, or a line to add is already there.
    """
    edits = sorted([(li.encode("utf-8"), False) for li in remove] + [(li.encode("utf-8"), True) for li in add])
    with old.open("rb") as src, new.open("wb", buffering=0) as out:
        size = os.fstat(src.fileno()).st_size
        mm: Any = mmap.mmap(src.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        try:
            done = 0
            for line, adding in edits:
                at = _lower_bound(mm, line, done, size)
                _copy(src.fileno(), out, mm, done, at)
                present = mm[at:at + len(line)] == line
                if adding:
                    if present:
                        raise KgError(f"{old}: the dump already has {line.decode()!r}")
                    _write_all(out, line)
                    done = at
                else:
                    if not present:
                        raise KgError(f"{old}: the dump lacks {line.decode()!r}")
                    done = at + len(line)
            _copy(src.fileno(), out, mm, done, size)
        finally:
            if size:
                mm.close()


def merge(out: Path, sources: Sequence[Iterable[bytes]], texts: Sequence[str]) -> None:
    """Write out: the sorted merge of sources of sorted lines (bytes) and texts (no line in two of them).

    Streams: one line of each source is in memory at a time.
    """
    import heapq

    runs = [*sources, *([li.encode("utf-8") for li in lines_of(t)] for t in texts)]
    with out.open("wb") as w:
        w.writelines(heapq.merge(*runs))


def _copy(src: int, out: Any, mm: Any, start: int, end: int) -> None:
    """Bytes [start, end) of the source to out, in the kernel when it can, else through memory."""
    while start < end:
        try:
            n = os.copy_file_range(src, out.fileno(), end - start, start)
        except (AttributeError, OSError):  # not Linux, or a file system that cannot
            n = 0
        if n <= 0:
            with memoryview(mm) as view:
                _write_all(out, view[start:end])
            return
        start += n


def _write_all(out: Any, data: Any) -> None:
    view = memoryview(data)
    while len(view):
        view = view[out.write(view):]


def _lower_bound(mm: Any, key: bytes, lo: int, hi: int) -> int:
    """The first line start in [lo, hi] whose line is not less than key (lo and hi are line starts)."""
    while lo < hi:
        mid = (lo + hi) // 2
        nl = mm.rfind(b"\n", lo, mid)
        start = lo if nl < 0 else nl + 1  # the start of the line holding mid
        end = mm.find(b"\n", start, hi) + 1
        if mm[start:end] < key:
            lo = end
        else:
            hi = start
    return lo
