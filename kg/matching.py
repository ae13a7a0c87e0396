"""Find where an unattributed quote comes from: pure text matching against recorded passages.

A quote matches a passage *exactly* when they agree after typographic normalisation (curly and
straight quotes, dashes, ellipses, whitespace, case), *trimmed* when the quote is the passage with
words dropped at the start, the end or at an ellipsis (the dropped words are kept), *partially*
when they share a long run of words, and not at all otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

QUOTE_CHARS = "\"'‘’‚‛“”„‟′″`´«»"
DASHES = "‐‑‒–—―−"
ELLIPSIS = "…"
EDGE = " .,;:!?" + "'"
QUALIFIERS = (
    "unless",
    "except",
    "provided",
    "if ",
    "only if",
    "subject to",
    "but ",
    "although",
    "as long as",
    "so long as",
    "on condition",
    "pending",
    "until",
)
MIN_RUN_WORDS = 4
MIN_BIGRAM_SHARE = 0.3


@dataclass(frozen=True)
class Passage:
    """A recorded text a quote may come from, identified by (record id, quote id)."""

    record: str
    quote: str
    text: str


@dataclass(frozen=True)
class Match:
    """The best attribution found for one quote."""

    kind: str  # exact | trimmed | partial | none
    passage: Passage | None = None
    score: float = 0.0
    dropped: tuple[str, ...] = ()

    @property
    def drops_qualifier(self) -> bool:
        return any(is_qualifier(d) for d in self.dropped)


def normalize(text: str) -> tuple[str, list[int]]:
    """Fold typography and case; return the folded text and, per folded char, its original index.

    >>> normalize("It’s  “first”...")[0]
    "it's 'first'…"
    """
    if "..." in text or len(text.casefold()) != len(text):
        return _normalize_by_char(text)
    # every character folds to one: only whitespace runs change the length (each becomes one space)
    index: list[int] = []
    at = 0
    for run in _SPACES.finditer(text):
        index.extend(range(at, run.start()))
        if index and run.end() < len(text):  # a run at the start or the end is dropped
            index.append(run.start())
        at = run.end()
    index.extend(range(at, len(text)))
    return fold(text), index


_SPACES = re.compile(r"\s+")


def _normalize_by_char(text: str) -> tuple[str, list[int]]:
    """What :func:`normalize` gives, one character at a time: for "..." and characters that fold to several."""
    out: list[str] = []
    index: list[int] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if text.startswith("...", i):
            ch, step = ELLIPSIS, 3
        else:
            step = 1
        if ch in QUOTE_CHARS:
            ch = "'"
        elif ch in DASHES:
            ch = "-"
        elif ch.isspace():
            ch = " "
        if ch == " " and (not out or out[-1] == " "):
            i += step
            continue
        for folded in ch.casefold():
            out.append(folded)
            index.append(i)
        i += step
    while out and out[-1] == " ":
        out.pop()
        index.pop()
    return "".join(out), index


_FOLD = str.maketrans({**dict.fromkeys(QUOTE_CHARS, "'"), **dict.fromkeys(DASHES, "-")})


def fold(text: str) -> str:
    """What :func:`normalize` folds text to, computed with str methods (many times faster).

    >>> fold("It’s  “first”...")
    "it's 'first'…"
    """
    return " ".join(text.replace("...", ELLIPSIS).translate(_FOLD).split()).casefold()


def _fragments(folded: str) -> list[str]:
    """The quote split at ellipses, each fragment stripped of edge punctuation."""
    return [f for part in folded.split(ELLIPSIS) if (f := part.strip(EDGE))]


def _original(text: str, index: list[int], start: int, end: int) -> str:
    """The original text behind folded[start:end]."""
    if start >= end:
        return ""
    last = index[end - 1]
    stop = last + (3 if text.startswith("...", last) else 1)
    return text[index[start] : stop]


def bare(dropped: str) -> str:
    """Dropped text without the quotation marks and punctuation around it, for display.

    >>> bare('"unless it rains."')
    'unless it rains'
    """
    return dropped.strip(QUOTE_CHARS + EDGE + " ")


def is_qualifier(dropped: str) -> bool:
    words = dropped.strip(QUOTE_CHARS + EDGE + ELLIPSIS + " ").casefold()
    return words.startswith(QUALIFIERS)


def _contained(quote: str, passage: Passage) -> Match | None:
    """Exact or trimmed match: every fragment of the quote occurs, in order, in the passage."""
    frags = _fragments(fold(quote))
    folded = fold(passage.text)
    if not frags:
        return None
    spans: list[tuple[int, int]] = []
    pos = 0
    for frag in frags:
        at = folded.find(frag, pos)
        if at < 0:
            return None
        spans.append((at, at + len(frag)))
        pos = at + len(frag)
    gaps = [(0, spans[0][0])] + [(a[1], b[0]) for a, b in pairwise(spans)]
    gaps.append((spans[-1][1], len(folded)))
    dropped = []
    index = normalize(passage.text)[1] if any(start < end for start, end in gaps) else []  # only to cut gaps out
    for start, end in gaps:
        piece = _original(passage.text, index, start, end)
        if piece.strip(QUOTE_CHARS + EDGE + ELLIPSIS + " "):
            dropped.append(piece.strip())
    covered = sum(e - s for s, e in spans) / max(len(folded), 1)
    return Match("trimmed" if dropped else "exact", passage, round(covered, 3), tuple(dropped))


_WORD = re.compile(r"[\w']+")


def _words(text: str) -> list[str]:
    return [w.strip("'") for w in _WORD.findall(fold(text)) if w.strip("'")]


def _longest_run(a: list[str], b: list[str]) -> int:
    """Length of the longest run of words that a and b share (dynamic programming)."""
    best, prev = 0, [0] * (len(b) + 1)
    for wa in a:
        cur = [0] * (len(b) + 1)
        for j, wb in enumerate(b, 1):
            if wa == wb:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def _partial(quote: str, passage: Passage) -> Match | None:
    """A paraphrase that keeps a run of at least MIN_RUN_WORDS words, or many word pairs."""
    qw, pw = _words(quote), _words(passage.text)
    if len(qw) < 2:
        return None
    run = _longest_run(qw, pw)
    q_pairs = set(pairwise(qw))
    shared = len(q_pairs & set(pairwise(pw))) / max(len(q_pairs), 1)
    if run >= MIN_RUN_WORDS or shared >= MIN_BIGRAM_SHARE:
        return Match("partial", passage, round(shared, 3))
    return None


RANK = {"exact": 3, "trimmed": 2, "partial": 1, "none": 0}


def match_quote(quote: str, passages: Iterable[Passage]) -> Match:
    """The best match for quote among passages (ties broken by score, then by id for determinism).

    >>> p = Passage("yahoo", "q", 'It ships on Azure first "unless Microsoft cannot."')
    >>> m = match_quote("It ships on Azure first.", [p])
    >>> m.kind, m.dropped, m.drops_qualifier
    ('trimmed', ('"unless Microsoft cannot."',), True)
    """
    best = Match("none")
    for passage in sorted(passages, key=lambda p: (p.record, p.quote)):
        found = _contained(quote, passage) or _partial(quote, passage)
        # Prefer the better kind, then the closer fit (a quote over the longer passage around it).
        if found and (RANK[found.kind], found.score) > (RANK[best.kind], best.score):
            best = found
    return best
