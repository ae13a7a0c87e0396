"""A deterministic synthetic corpus in kg's own source-record format, sized by triple count.

The corpus has the shape of the real one, scaled up: one organizations file (companies, news
outlets, analysis blogs, products), one agreement file per deal (clauses with parts, versions,
context events, topics), news articles and company announcements with quotes (most inside a longer
recorded passage) and claims that assert clause statuses or topics, and analysis posts that cite
earlier records and quote them without attribution (exactly, trimmed, with a qualifier or a middle
dropped, paraphrased, or not at all), so that the build's quote matching, ``kg trace`` and
``kg audit`` have real work.

The same seed and size give the same bytes: every record is drawn from its own
``random.Random(f"{seed}/{kind}/{index}")`` and written in a fixed key order.

    python -m bench.generate bench/out/corpus-100k --triples 100000 --seed 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FUNCTION_WORDS = ("the", "of", "and", "to", "in", "a", "for", "on", "with", "that", "its", "by", "will",
                  "as", "from", "is", "at", "has", "be", "said", "new", "more", "than", "their", "which")
SYLLABLES = ("ka", "lo", "mer", "tri", "van", "sol", "ber", "qui", "dan", "est", "ro", "pel", "xi", "mu",
             "tor", "len", "gra", "fi", "nor", "ash", "vel", "cor", "de", "pra", "lum", "ix", "ten", "bo",
             "sar", "wen", "ul", "mo", "ci", "tha", "rek", "ome", "ga", "ny", "pho", "ist")
QUALIFIERS = ("unless", "except where", "provided that", "only if", "subject to", "until")
CLAUSES = (
    ("cloud-exclusivity", "Cloud exclusivity", ()),
    ("ip-licence", "IP licence", ()),
    ("revenue-share", "Revenue share", ("revenue-share-a-to-b", "revenue-share-b-to-a")),
    ("revenue-share-a-to-b", "Revenue share, first party to second", ()),
    ("revenue-share-b-to-a", "Revenue share, second party to first", ()),
    ("primary-cloud", "Primary cloud partner", ()),
    ("ship-first", "Ship first on the partner cloud", ()),
    ("purchase-commitment", "Cloud purchase commitment", ()),
    ("rofr", "Right of first refusal", ()),
    ("agi-clause", "AGI clause", ()),
    ("compute-cap", "Compute cap", ()),
)
STATUSES = ("exclusive", "non-exclusive", "in-force", "ended")
OUTLET_SUFFIXES = ("Times", "Daily", "Wire", "Post", "Herald", "Ledger", "Journal", "Review", "Report")
COMPANY_SUFFIXES = ("Systems", "Labs", "Cloud", "AI", "Networks", "Compute", "Dynamics")
RETRIEVED = "2026-11-26"

# Fixed triples outside the documents: the ontology graph (kg.ttl) is about this size.
ONTOLOGY_TRIPLES = 235


@dataclass
class Stats:
    """What generate() wrote."""

    files: int = 0
    documents: int = 0
    analyses: int = 0
    quotes: int = 0
    claims: int = 0
    estimated_triples: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class _Text:
    """Pseudo-English from a seeded vocabulary with a Zipf-like word distribution."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"{seed}/vocabulary")
        words: set[str] = set()
        while len(words) < 6000:
            words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3, 3, 4)))))
        self.vocab = sorted(words)
        rng.shuffle(self.vocab)
        total, cum = 0.0, []
        for rank in range(len(self.vocab)):
            total += 1.0 / (rank + 8)
            cum.append(total)
        self.cum = cum

    def words(self, rng: random.Random, n: int) -> list[str]:
        picked = rng.choices(self.vocab, cum_weights=self.cum, k=n)
        return [rng.choice(FUNCTION_WORDS) if rng.random() < 0.35 else w for w in picked]

    def sentence(self, rng: random.Random, lo: int = 8, hi: int = 22, *, names: tuple[str, ...] = ()) -> str:
        words = self.words(rng, rng.randint(lo, hi))
        if names and rng.random() < 0.6:
            words.insert(rng.randrange(len(words)), rng.choice(names))
        if rng.random() < 0.2:
            words.insert(rng.randrange(len(words)), f"${rng.randint(1, 400)} billion")
        body = " ".join(words)
        if rng.random() < 0.15:
            body += f", {rng.choice(QUALIFIERS)} " + " ".join(self.words(rng, rng.randint(4, 9)))
        if rng.random() < 0.1:  # a quoted term, so typography differs between copies
            cut = body.split(" ")
            k = rng.randrange(len(cut))
            cut[k] = f'"{cut[k]}"'
            body = " ".join(cut)
        return body[0].upper() + body[1:] + "."

    def name(self, rng: random.Random) -> str:
        return rng.choice(self.vocab).capitalize()


def _slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def _date(rng: random.Random, start: dt.date, days: int) -> str:
    return (start + dt.timedelta(days=rng.randrange(days))).isoformat()


@dataclass(frozen=True)
class _Org:
    id: str
    name: str
    kind: str


@dataclass
class _Deal:
    id: str
    parties: tuple[_Org, _Org]
    clauses: list[str]
    versions: list[tuple[str, str]]  # (event id, date), in date order
    context: list[str]
    topics: list[str]


@dataclass(frozen=True)
class _Source:
    """A generated non-analysis record, as analysis posts later quote it."""

    id: str
    deal: int
    quotes: tuple[tuple[str, str, str | None], ...]  # (quote id, text, context)


def _scale(triples: int) -> tuple[int, int, int]:
    """(deals, outlets, blogs) for a corpus of about this many triples."""
    return (max(1, min(12, triples // 80_000 + 1)), max(8, min(300, triples // 2_500)),
            max(2, min(60, triples // 20_000)))


def _organizations(text: _Text, seed: int, triples: int) -> tuple[dict[str, Any], list[_Org], list[_Org], list[_Org]]:
    rng = random.Random(f"{seed}/organizations")
    deals, n_outlets, n_blogs = _scale(triples)
    taken: set[str] = set()

    def org(name: str, kind: str) -> _Org:
        base = _slug(name)
        oid, k = base, 2
        while oid in taken:
            oid, k = f"{base}-{k}", k + 1
        taken.add(oid)
        return _Org(oid, name, kind)

    companies = [org(f"{text.name(rng)} {rng.choice(COMPANY_SUFFIXES)}", "company") for _ in range(2 * deals + 2)]
    outlets = [org(f"The {text.name(rng)} {rng.choice(OUTLET_SUFFIXES)}", "news-outlet") for _ in range(n_outlets)]
    blogs = [org(f"{text.name(rng)} Notes", "news-outlet") for _ in range(n_blogs)]
    products = [(org(f"{text.name(rng)} {c.name.split()[0]}", "product"), c) for c in companies[: deals]]
    items: list[dict[str, Any]] = []
    for o in [*companies, *outlets, *blogs]:
        item: dict[str, Any] = {"id": o.id, "name": o.name, "kind": o.kind}
        if rng.random() < 0.3:
            item["wikidata"] = {"qid": f"Q{rng.randint(1000, 9_999_999)}", "seen_at": "registry"}
        items.append(item)
    for p, maker in products:
        items.append({"id": p.id, "name": p.name, "kind": "product", "part_of": maker.id})
    record = {
        "id": "organizations", "type": "organizations", "retrieved": RETRIEVED,
        "evidence": {"registry": {"ref": "bench/generate.py: synthetic organizations", "copy": "reference"}},
        "organizations": items,
    }
    return record, companies, outlets, blogs


def _deal(text: _Text, seed: int, k: int, companies: list[_Org]) -> tuple[dict[str, Any], _Deal]:
    rng = random.Random(f"{seed}/deal/{k}")
    did = f"deal-{k:02d}"
    a, b = companies[2 * k], companies[2 * k + 1]
    prefix = f"d{k:02d}"
    clause_ids = {cid: f"{prefix}-{cid}" for cid, _l, _p in CLAUSES}
    clauses = [{"id": clause_ids[cid], "label": label, "description": text.sentence(rng, 10, 24),
                **({"parts": [clause_ids[p] for p in parts]} if parts else {})} for cid, label, parts in CLAUSES]
    start = dt.date(2019, 1, 1)
    dates = sorted({_date(rng, start, 2600) for _ in range(5)})
    versions = [(f"{prefix}-v{i + 1}", d) for i, d in enumerate(dates)]
    events: list[dict[str, Any]] = [
        {"id": vid, "label": f"Version {i + 1} of the {a.name}–{b.name} deal", "kind": "version", "date": d,
         "seen_at": "announcement"}
        for i, (vid, d) in enumerate(versions)
    ]
    context = [f"{prefix}-context-{i + 1}" for i in range(3)]
    events += [{"id": cid, "label": text.sentence(rng, 3, 7).rstrip("."), "kind": "context",
                "date": _date(rng, start, 2600), "note": text.sentence(rng, 6, 14)} for cid in context]
    topics = [f"{prefix}-topic-{i + 1}" for i in range(4)]
    record = {
        "id": did, "type": "agreement", "name": f"{a.name}–{b.name} partnership", "parties": [a.id, b.id],
        "retrieved": RETRIEVED,
        "evidence": {"announcement": {"url": f"https://{a.id}.example.com/partnership", "copy": "own-page"},
                     "filing": {"ref": f"synthetic filing {did}", "copy": "reference"}},
        "clauses": clauses,
        "topics": [{"id": t, "label": text.sentence(rng, 3, 7).rstrip(".")} for t in topics],
        "events": events,
    }
    return record, _Deal(did, (a, b), list(clause_ids.values()), versions, context, topics)


def _assertion(rng: random.Random, deal: _Deal) -> dict[str, Any]:
    if rng.random() < 0.15:
        return {"topic": rng.choice(deal.topics)}
    a: dict[str, Any] = {"clause": rng.choice(deal.clauses), "version": rng.choice(deal.versions)[0],
                         "status": rng.choice(STATUSES)}
    roll = rng.random()
    if roll < 0.15:
        a["holder"] = rng.choice(deal.parties).id
    elif roll < 0.25:
        a["rate"] = round(rng.uniform(0.05, 0.3), 2)
        a["until"] = rng.randint(2026, 2040)
    elif roll < 0.32:
        a["capped"] = rng.random() < 0.5
        a["cap_usd"] = rng.randint(1, 200) * 1_000_000_000
    elif roll < 0.4:
        a["amount_usd"] = rng.randint(1, 500) * 1_000_000_000
    elif roll < 0.45:
        a["condition"] = f"{rng.choice(QUALIFIERS)} the partner cannot support it"
    return a


def _claims(rng: random.Random, text: _Text, deal: _Deal, quote_ids: list[str], kinds: tuple[str, ...],
            sections: list[str], names: tuple[str, ...]) -> list[dict[str, Any]]:
    claims = []
    for n in range(rng.randint(2, 6)):
        kind = rng.choice(kinds)
        claim: dict[str, Any] = {"id": f"c{n + 1}", "kind": kind}
        if sections:
            claim["section"] = rng.choice(sections)
        claim["text"] = text.sentence(rng, 12, 30, names=names)
        if kind != "opinion":
            asserts: list[dict[str, Any]] = []
            keys: set[tuple[Any, ...]] = set()
            for _ in range(rng.choice((1, 1, 1, 2))):
                a = _assertion(rng, deal)
                key = (a.get("clause"), a.get("version"), a.get("topic"))
                if key not in keys:
                    keys.add(key)
                    asserts.append(a)
            claim["asserts"] = asserts
        if quote_ids and kind in ("reported-fact", "company-statement") and rng.random() < 0.92:
            claim["supported_by"] = rng.sample(quote_ids, min(len(quote_ids), rng.choice((1, 1, 2))))
        if quote_ids and rng.random() < 0.05:
            claim["disputed_by"] = [rng.choice(quote_ids)]
        claims.append(claim)
    return claims


def _source_record(text: _Text, seed: int, i: int, deals: list[_Deal],
                   outlets: list[_Org]) -> tuple[dict[str, Any], _Source]:
    rng = random.Random(f"{seed}/document/{i}")
    k = rng.randrange(len(deals))
    deal = deals[k]
    announcement = rng.random() < 0.17
    publisher = rng.choice(deal.parties) if announcement else rng.choice(outlets)
    rid = f"{publisher.id}-{i:06d}"
    names = (deal.parties[0].name, deal.parties[1].name)
    vid, vdate = rng.choice(deal.versions)
    published = (dt.date.fromisoformat(vdate) + dt.timedelta(days=rng.randrange(0, 30))).isoformat()
    own = rng.random() < 0.85
    page = "own" if own else "copy"
    host = f"{publisher.id}.example.com" if own else f"mirror{rng.randrange(40)}.example.net"
    url = f"https://{host}/{published[:4]}/{rid}"
    evidence: dict[str, Any] = {page: {"url": url, "copy": "own-page" if own else "secondary"}}
    if own and rng.random() < 0.25:
        evidence["mirror"] = {"url": f"https://mirror{rng.randrange(40)}.example.net/{rid}", "copy": "secondary",
                              "note": "republished copy"}
    record: dict[str, Any] = {
        "id": rid, "type": "company-announcement" if announcement else "news-article",
        "publisher": publisher.id,
        "about_event": vid if rng.random() < 0.9 else rng.choice(deal.context),
        "title": {"text": text.sentence(rng, 6, 14, names=names).rstrip("."), "seen_at": page},
    }
    if own:
        record["url"] = url
    record["published"] = {"date": published, "basis": "stated" if own else "inferred", "seen_at": page}
    if not announcement and rng.random() < 0.8:
        record["authors"] = [{"text": f"{text.name(rng)} {text.name(rng)}", "seen_at": page}
                             for _ in range(rng.choice((1, 1, 2)))]
    record["retrieved"] = RETRIEVED
    record["evidence"] = evidence
    quotes, kept = [], []
    for n in range(rng.randint(3, 8)):
        qid = f"q{n + 1}"
        sentences = [text.sentence(rng, names=names) for _ in range(rng.randint(2, 4))]
        pick = rng.randrange(len(sentences))
        quote: dict[str, Any] = {"id": qid, "where": rng.choice(("lede", "body", "body", "body", "statement"))}
        if announcement or rng.random() < 0.25:
            quote["speaker"] = rng.choice(deal.parties).id
        if rng.random() < 0.8:
            words = sentences[pick].split(" ")
            lo = rng.randrange(0, max(1, len(words) // 3))
            span = " ".join(words[lo:])  # the quote may start mid-sentence
            context = " ".join(sentences)
            quote["text"], quote["context"] = span, context
            kept.append((qid, span, context))
        else:
            quote["text"] = sentences[pick]
            kept.append((qid, sentences[pick], None))
        quote["seen_at"] = page
        quotes.append(quote)
    record["quotes"] = quotes
    kinds = ("company-statement", "company-statement", "analysis") if announcement else \
        ("reported-fact", "reported-fact", "reported-fact", "analysis", "opinion")
    record["claims"] = _claims(rng, text, deal, [q["id"] for q in quotes], kinds, [], names)
    return record, _Source(rid, k, tuple(kept))


def _typography(s: str) -> str:
    return s.replace("'", "’").replace('"', "“", 1).replace('"', "”", 1)


def _derived_quote(rng: random.Random, text: _Text, src: _Source) -> str:
    """A quote an analysis post might print for one of src's quotes."""
    _qid, quote, context = rng.choice(src.quotes)
    words = quote.split(" ")
    roll = rng.random()
    if roll < 0.3:  # exact, up to typography
        return _typography(quote)
    if roll < 0.55 and len(words) > 8:  # trimmed at the end (often a qualifier) or at the start
        cut = words[: rng.randint(len(words) // 2, len(words) - 2)] if rng.random() < 0.6 else words[2:]
        return " ".join(cut).rstrip(",") + "."
    if roll < 0.65 and len(words) > 10:  # a middle dropped at an ellipsis
        a = rng.randint(3, len(words) // 2 - 1)
        return " ".join(words[:a]) + "… " + " ".join(words[a + 2:])
    if roll < 0.72 and context is not None:  # from the passage around the quote, not the quote
        sentences = context.split(". ")
        return sentences[0].rstrip(".") + "."
    if roll < 0.88 and len(words) > 8:  # a paraphrase that keeps a run of words
        at = rng.randrange(0, len(words) - 5)
        return " ".join(text.words(rng, 4) + words[at:at + 5] + text.words(rng, 5)).capitalize() + "."
    return text.sentence(rng)  # not found anywhere


def _analysis_record(text: _Text, seed: int, i: int, deals: list[_Deal], blogs: list[_Org],
                     sources: list[_Source]) -> dict[str, Any]:
    rng = random.Random(f"{seed}/analysis/{i}")
    k = rng.randrange(len(deals))
    deal = deals[k]
    publisher = rng.choice(blogs)
    rid = f"{publisher.id}-{i:06d}"
    names = (deal.parties[0].name, deal.parties[1].name)
    same = [s for s in sources[-400:] if s.deal == k] or sources[-400:]
    cited = rng.sample(same, min(len(same), rng.randint(3, 6)))
    own = rng.random() < 0.5
    evidence = ({"post": {"url": f"https://{publisher.id}.example.org/{rid}", "copy": "own-page"}} if own
                else {"post": {"ref": f"archived text of {rid}", "copy": "reference",
                               "note": "the post's own address is unknown"}})
    record: dict[str, Any] = {
        "id": rid, "type": "analysis", "publisher": publisher.id,
        "about_event": rng.choice(deal.versions)[0],
        "title": {"text": text.sentence(rng, 5, 10, names=names).rstrip("."), "seen_at": "post"},
    }
    if own:
        record["url"] = evidence["post"]["url"]
    record["retrieved"] = RETRIEVED
    record["evidence"] = evidence
    record["cites"] = sorted(s.id for s in cited)
    sections = [f"s{n + 1}" for n in range(rng.randint(2, 4))]
    record["sections"] = [{"id": s, "title": text.sentence(rng, 3, 7).rstrip(".")} for s in sections]
    record["quotes"] = [{"id": f"q{n + 1}", "where": "body", "text": _derived_quote(rng, text, rng.choice(cited)),
                         "seen_at": "post"} for n in range(rng.randint(4, 8))]
    record["claims"] = _claims(rng, text, deal, [q["id"] for q in record["quotes"]],
                               ("reported-fact", "reported-fact", "analysis", "opinion"), sections, names)
    return record


def estimate_triples(record: dict[str, Any]) -> int:
    """About how many quads kg build makes from one document record (within a few per cent)."""
    n = 1 + {"news-article": 2, "company-announcement": 3, "analysis": 3}[record["type"]] + 4
    n += 2 * ("title" in record) + ("url" in record) + 3 * ("published" in record)
    n += len(record.get("authors", [])) + ("about_event" in record) + len(record.get("cites", []))
    n += 3 * len(record.get("sections", []))
    for ev in record["evidence"].values():
        n += 3 + 2 * ("url" in ev) + ("ref" in ev) + ("note" in ev) + 2
    for q in record.get("quotes", []):
        n += 5 + (record["type"] != "analysis") + ("speaker" in q) + ("where" in q) + ("seen_at" in q) + 5
        if "context" in q:
            n += 2 + 4
        if record["type"] == "analysis":
            n += 9  # its match in the derived graph
    for c in record.get("claims", []):
        n += 4 + 4 + 5 + ("section" in c) + 2 * len(c.get("supported_by", [])) + len(c.get("disputed_by", []))
        for a in c.get("asserts", []):
            n += 1 if "topic" in a else 4 + len(a) - 3
    return n


def _dump(path: Path, record: dict[str, Any], comment: str) -> None:
    body = yaml.dump(record, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True, width=10_000)
    path.write_text(f"# {comment}\n{body}", encoding="utf-8")


def generate(out: Path, *, triples: int, seed: int = 0) -> Stats:
    """Write a corpus of about `triples` triples into out (emptied first); same inputs, same bytes."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    text = _Text(seed)
    stats = Stats()
    orgs, companies, outlets, blogs = _organizations(text, seed, triples)
    _dump(out / "organizations.yaml", orgs, "Synthetic organizations (bench/generate.py).")
    stats.estimated_triples += ONTOLOGY_TRIPLES + 6 * len(orgs["organizations"])
    n_deals = _scale(triples)[0]
    deals = []
    for k in range(n_deals):
        record, deal = _deal(text, seed, k, companies)
        _dump(out / f"{record['id']}.yaml", record, "Synthetic agreement (bench/generate.py).")
        deals.append(deal)
        stats.estimated_triples += 60 + 6 * len(record["clauses"]) + 5 * len(record["events"])
    stats.files = 1 + n_deals
    sources: list[_Source] = []
    i = 0
    while stats.estimated_triples < triples:
        if i % 10 == 9 and sources:
            record = _analysis_record(text, seed, i, deals, blogs, sources)
            stats.analyses += 1
        else:
            record, src = _source_record(text, seed, i, deals, outlets)
            sources.append(src)
        _dump(out / f"{record['id']}.yaml", record, f"Synthetic {record['type']} (bench/generate.py).")
        stats.documents += 1
        stats.files += 1
        stats.quotes += len(record["quotes"])
        stats.claims += len(record["claims"])
        stats.by_kind[record["type"]] = stats.by_kind.get(record["type"], 0) + 1
        stats.estimated_triples += estimate_triples(record)
        i += 1
    return stats


def parse_size(text: str) -> int:
    """'100k' -> 100000, '1m' -> 1000000, '2500' -> 2500."""
    t = text.strip().lower().replace("_", "")
    for suffix, factor in (("k", 1_000), ("m", 1_000_000)):
        if t.endswith(suffix):
            return int(float(t[:-1]) * factor)
    return int(t)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="directory to write the records into (emptied first)")
    parser.add_argument("--triples", default="100k", help="target size, e.g. 10k, 100k, 1m [100k]")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    stats = generate(args.out, triples=parse_size(args.triples), seed=args.seed)
    print(f"wrote {stats.files} files ({stats.documents} documents, {stats.analyses} analyses, "
          f"{stats.quotes} quotes, {stats.claims} claims), about {stats.estimated_triples} triples, to {args.out}")


if __name__ == "__main__":
    main()
