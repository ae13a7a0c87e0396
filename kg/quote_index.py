"""Analysis quotes matched at scale: a word-bigram index of the quotes, scanned over the passages."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from kg.build import QuoteMatch, match_quads, nquads
from kg.matching import (
    EDGE,
    ELLIPSIS,
    MIN_BIGRAM_SHARE,
    MIN_RUN_WORDS,
    RANK,
    Match,
    Passage,
    fold,
    match_quote,
)
from kg.model import Document
from kg.parallel import pool_map

POOL_MIN_PASSAGES = 5_000  # below this, one process beats starting workers to match quotes
FEW_KEYS = 256  # up to this many index bigrams, passages are first picked by their kept words (scan_few)

PKey = tuple[str, str, int]  # a passage: record id, quote id, 0 for the quote and 1 for its context
QKey = tuple[str, str]  # an analysis quote: record id, quote id
Found = list[tuple[PKey, Match]]

_WORD = re.compile(r"[\w']+")


def _words(folded: str) -> list[str]:
    return [w for w in (t.strip("'") for t in _WORD.findall(folded)) if w]


@dataclass
class _Quote:
    key: QKey
    text: str
    frags: list[str]  # the folded quote split at ellipses, as kg.matching cuts it
    pairs: set[tuple[str, str]]  # its word bigrams
    seq: list[tuple[str, str]]  # the same, in order
    need: set[tuple[str, str]]  # bigrams any passage that contains the quote must have

    @classmethod
    def of(cls, key: QKey, text: str) -> _Quote:
        folded = fold(text)
        words = _words(folded)
        seq = list(pairwise(words))
        frags = [f for part in folded.split(ELLIPSIS) if (f := part.strip(EDGE))]
        need: set[tuple[str, str]] = set()
        for frag in frags:  # tokens inside a fragment (not at its edges) are whole words of the passage
            inner = [w for w in (t.strip("'") for t in _WORD.findall(frag)[1:-1]) if w]
            need.update(pairwise(inner))
        return cls(key, text, frags, set(seq), seq, need)

    def may_match(self, pairs: set[tuple[str, str]], folded: str) -> bool:
        """False only when kg.matching cannot match this quote with the passage (a cheap filter)."""
        if self.seq:
            shared = self.pairs & pairs
            if shared:
                if len(shared) / len(self.pairs) >= MIN_BIGRAM_SHARE:
                    return True
                run = 0  # consecutive bigrams of the quote the passage has: a run of words
                for pair in self.seq:
                    run = run + 1 if pair in shared else 0
                    if run >= MIN_RUN_WORDS - 1:
                        return True
        if not self.frags or not self.need <= pairs:
            return False
        pos = 0
        for frag in self.frags:
            at = folded.find(frag, pos)
            if at < 0:
                return False
            pos = at + len(frag)
        return True


class QuoteIndex:
    """Analysis quotes indexed by word bigram, to find the passages each may match.

    :func:`kg.matching.match_quote` compares a quote with every passage of the corpus, which is
    quadratic. A passage can match a quote only if it has some of the quote's word bigrams: a
    partial match shares a run of MIN_RUN_WORDS words (so the bigrams of some window of the quote)
    or a MIN_BIGRAM_SHARE of its bigrams (so at least one of any m - k + 1 of them, when k are
    needed), and a passage that contains the quote has every bigram inside its fragments. Each
    quote is indexed under one such bigram per condition, the rarest, and quotes too short to have
    inner bigrams are tried on every passage. Scanning the passages against the index therefore
    finds every (quote, passage) pair that matches, in time linear in the corpus; the comparison
    itself is still match_quote's.
    """

    def __init__(self, quotes: Iterable[tuple[QKey, str]] = ()) -> None:
        self.texts: dict[QKey, str] = {}
        self.keys: dict[QKey, tuple[tuple[str, str], ...]] = {}  # what each quote is filed under
        self.by_pair: dict[tuple[str, str], dict[QKey, None]] = {}
        self.short: dict[QKey, None] = {}  # no inner bigrams: tried on every passage
        self.common: Counter[tuple[str, str]] | None = Counter()  # how many quotes have each bigram
        self._parsed: dict[QKey, _Quote] = {}
        self.add(quotes)

    def quote(self, key: QKey) -> _Quote:
        if key not in self._parsed:
            self._parsed[key] = _Quote.of(key, self.texts[key])
        return self._parsed[key]

    def add(self, quotes: Iterable[tuple[QKey, str]]) -> None:
        new = list(quotes)
        if not new:
            return
        if self.common is None:  # not kept on disk: recounted when first needed
            self.common = Counter(pair for key in self.texts for pair in self.quote(key).pairs)
        for key, text in new:
            self.texts[key] = text
            self.common.update(self.quote(key).pairs)
        for key, _text in new:
            q = self.quote(key)
            self.keys[key] = tuple(sorted(self._keys(q)))
            for pair in self.keys[key]:
                self.by_pair.setdefault(pair, {})[key] = None
            if q.frags and not q.need:
                self.short[key] = None

    def remove(self, keys: Iterable[QKey]) -> None:
        for key in keys:
            if key not in self.texts:
                continue
            if self.common is not None:
                self.common.subtract(self.quote(key).pairs)
            for pair in self.keys.pop(key):
                del self.by_pair[pair][key]
                if not self.by_pair[pair]:
                    del self.by_pair[pair]
            self.short.pop(key, None)
            self._parsed.pop(key, None)
            del self.texts[key]

    def _keys(self, q: _Quote) -> set[tuple[str, str]]:
        """Bigrams every passage that q can match has (one per condition), the rarest there are."""
        common = self.common or Counter()

        def rarest(pairs: Iterable[tuple[str, str]]) -> tuple[str, str]:
            return min(pairs, key=lambda p: (common[p], p))

        keys: set[tuple[str, str]] = set()
        if q.seq:
            m = len(q.pairs)
            least = next(k for k in range(1, m + 1) if k / m >= MIN_BIGRAM_SHARE)  # shared bigrams needed
            keys.update(sorted(q.pairs, key=lambda p: (common[p], p))[: m - least + 1])  # pigeonhole
            run = MIN_RUN_WORDS - 1
            keys.update(rarest(q.seq[i:i + run]) for i in range(len(q.seq) - run + 1))
        if q.need:
            keys.add(rarest(q.need))
        return keys

    def __getstate__(self) -> dict[str, Any]:
        """Texts and filing only (words hold no space or "|"): small and quick to read back."""
        keys = {k: "|".join(f"{a} {b}" for a, b in pairs) for k, pairs in self.keys.items()}
        return {"texts": self.texts, "keys": keys, "short": list(self.short)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.texts, self.short, self.common, self._parsed = state["texts"], dict.fromkeys(state["short"]), None, {}
        self.keys, self.by_pair = {}, {}
        for key, joined in state["keys"].items():
            pairs = tuple(tuple(p.split(" ", 1)) for p in joined.split("|")) if joined else ()
            self.keys[key] = pairs
            for pair in pairs:
                self.by_pair.setdefault(pair, {})[key] = None

    def scan(self, passages: Iterable[tuple[PKey, str]]) -> dict[QKey, Found]:
        """Every match of an indexed quote with one of passages (kind not "none")."""
        found: dict[QKey, Found] = {}
        if not self.by_pair and not self.short:
            return found
        for pkey, text in passages:
            folded = fold(text)
            words = _words(folded)
            pairs = set(pairwise(words))
            candidates = {k: None for pair in pairs for k in self.by_pair.get(pair, ())}
            candidates.update(self.short)
            for key in candidates:
                q = self.quote(key)
                if q.may_match(pairs, folded):
                    m = match_quote(q.text, [Passage(pkey[0], pkey[1], text)])
                    if m.kind != "none":
                        found.setdefault(key, []).append((pkey, m))
        return found


_SCAN: tuple[QuoteIndex, list[tuple[PKey, str]]] | None = None  # set before the workers fork, so they share it


def _scan_range(span: tuple[int, int]) -> dict[QKey, Found]:
    assert _SCAN is not None
    index, passages = _SCAN
    return index.scan(passages[span[0]:span[1]])


def scan_passages(index: QuoteIndex, passages: Iterable[tuple[PKey, str]]) -> dict[QKey, Found]:
    """index.scan on every core when there are many passages; the same result, in passage order."""
    global _SCAN
    listed = list(passages)
    cores = os.cpu_count() or 1
    if len(listed) < POOL_MIN_PASSAGES or cores < 2:
        return index.scan(listed)
    step = -(-len(listed) // (4 * cores))
    _SCAN = (index, listed)
    try:
        results = pool_map(_scan_range, [(i, i + step) for i in range(0, len(listed), step)], chunksize=1)
    finally:
        _SCAN = None
    found: dict[QKey, Found] = {}
    for result in results:  # in passage order, as one scan gives them
        for key, matched in result.items():
            found.setdefault(key, []).extend(matched)
    return found


def passage_words(text: str) -> str:
    """A passage's words as the index reads them, space-separated, with a space before and after.

    " a b " is in it exactly when (a, b) is one of its word pairs (a word holds no space).

    >>> passage_words("It’s the “first”...")
    " it's the first "
    """
    return " " + " ".join(_words(fold(text))) + " "


def scan_few(index: QuoteIndex, passages: Iterable[tuple[PKey, str, str]]) -> dict[QKey, Found]:
    """What scan_passages finds, for an index of few quotes: passages given with their passage_words.

    The passages whose words hold none of the index's bigrams cannot match any of its quotes, and
    one regular expression over the kept words finds the others, so only they are folded and
    compared (an edited analysis quote at 1M triples: 44,004 passages, a few thousand compared).
    """
    if index.short or len(index.by_pair) > FEW_KEYS:
        return scan_passages(index, ((k, t) for k, t, _w in passages))
    if not index.by_pair:
        return {}
    pattern = re.compile("|".join(re.escape(f" {a} {b} ") for a, b in sorted(index.by_pair)))
    return index.scan([(k, t) for k, t, w in passages if pattern.search(w)])


def best_match(found: Found) -> Match:
    """The match kg.matching.match_quote picks among all passages: the first best in passage order."""
    best = Match("none")
    for _key, m in sorted(found, key=lambda f: f[0]):
        if (RANK[m.kind], m.score) > (RANK[best.kind], best.score):
            best = m
    return best


def document_passages(doc: Document) -> Iterator[tuple[PKey, str]]:
    """The passages of a non-analysis document, as :func:`kg.build.passages` makes them."""
    for q in doc.quotes:
        yield (doc.id, q.id, 0), q.text
        if q.context is not None:
            yield (doc.id, q.id, 1), q.context


# ---- the derived graph's quote matches -----------------------------------------------------------


def match_part(key: QKey, match: Match) -> str:
    return nquads(match_quads([QuoteMatch(key[0], key[1], match)]))


def part_key(key: QKey) -> str:
    return f"match {key[0]} {key[1]}"
