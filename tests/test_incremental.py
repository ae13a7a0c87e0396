"""kg build after the first: only what changed is re-read and re-validated, with a full build's bytes."""

from __future__ import annotations

import random
import shutil
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from conftest import DATA, ROOT, shapes_with

import kg.records
from kg import incremental, part_validation, quote_index
from kg.build import match_quotes
from kg.cli import ExitCode, cli
from kg.dump_file import splice
from kg.matching import fold, normalize
from kg.part_validation import Closure, Part, validate_parts
from kg.pipeline import build_in_one_pass, default_shapes, make_dataset
from kg.quote_index import QuoteIndex, best_match, document_passages
from kg.store import Store
from kg.validate import validate


def build(sources: Path, root: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--store", str(root / "store"), "build", str(sources), *args])
    assert result.exit_code == 0, result.stderr
    return result


def reference(sources: Path, root: Path) -> tuple[bytes, str]:
    """The dump and the store's quads of the one-pass build (no cache, no parts, brute-force matching)."""
    shutil.rmtree(root, ignore_errors=True)
    build_in_one_pass(sources, store_path=root / "store", dump_path=root / "dataset.nq")
    return (root / "dataset.nq").read_bytes(), Store(root / "store").nquads()


def records(sources: Path) -> list[tuple[Path, dict[str, Any]]]:
    return [(p, yaml.safe_load(p.read_text(encoding="utf-8"))) for p in sorted(sources.glob("*.yaml"))]


def write(path: Path, record: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(record, sort_keys=False, allow_unicode=True, width=1000), encoding="utf-8")


def edit(sources: Path, op: str, rng: random.Random, n: int) -> None:
    """One random edit of the records: the kinds of change an analyst makes."""
    all_records = records(sources)
    docs = [(p, r) for p, r in all_records if r["type"] not in ("organizations", "agreement")]
    news = [(p, r) for p, r in docs if r["type"] != "analysis" and r.get("quotes")]
    posts = [(p, r) for p, r in docs if r["type"] == "analysis"]
    cited = {c for _p, r in docs for c in r.get("cites", [])}
    if op == "change-claim":
        path, r = rng.choice(docs)
        claim = rng.choice(r["claims"])
        odd = rng.choice(["", "\u2028", "\x85", "\t"])  # data, not line ends: the dump splits at "\n" only
        claim["text"] += " " + "".join(rng.choices(string.ascii_lowercase, k=6)) + odd + "."
    elif op == "change-quote":  # changes the passages the post's quotes are matched against
        path, r = rng.choice(news)
        q = rng.choice(r["quotes"])
        q.pop("context", None)
        q["text"] = " ".join(q["text"].split()[: rng.randint(2, 6)])
    elif op == "change-post-quote":  # the post now quotes another source, word for word
        path, r = rng.choice(posts)
        _p, source = rng.choice(news)
        rng.choice(r["quotes"])["text"] = rng.choice(source["quotes"])["text"]
    elif op == "add":
        _p, r = rng.choice(docs)
        r["id"] = f"{r['id']}-copy-{n}"
        path = sources / f"{r['id']}.yaml"
    elif op == "delete":
        keep = cited | ({posts[0][1]["id"]} if len(posts) == 1 else set())
        path, _r = rng.choice([(p, r) for p, r in docs if r["id"] not in keep])
        path.unlink()
        return
    elif op == "change-organization":  # a reference graph: what points to it is validated again
        path, r = next((p, r) for p, r in all_records if r["type"] == "organizations")
        rng.choice(r["organizations"])["name"] += " Group"
    else:
        raise AssertionError(op)
    write(path, r)


OPS = ["change-claim", "change-quote", "change-post-quote", "add", "delete", "change-organization"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_edits_give_the_bytes_and_quads_of_a_full_build(tmp_path: Path, fixture_sources: Path,
                                                                 seed: int) -> None:
    rng = random.Random(seed)
    build(fixture_sources, tmp_path / "kg")
    ops = [*OPS, *rng.choices(OPS, k=6)]
    rng.shuffle(ops)
    for n, op in enumerate(ops):
        edit(fixture_sources, op, rng, n)
        result = build(fixture_sources, tmp_path / "kg")
        dump, quads = reference(fixture_sources, tmp_path / "ref")
        assert (tmp_path / "kg" / "dataset.nq").read_bytes() == dump, op
        assert Store(tmp_path / "kg" / "store").nquads() == quads, op
        triples = dump.count(b"\n")
        assert f" {triples} triples in " in result.stdout, op


def test_editing_a_posts_claim_keeps_its_quotes_matches(tmp_path: Path, fixture_sources: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    build(fixture_sources, tmp_path / "kg")
    path, post = next((p, r) for p, r in records(fixture_sources) if r["type"] == "analysis")
    post["claims"][0]["text"] += " Edited."
    write(path, post)
    scans: list[int] = []
    real = incremental.scan_few

    def counting(index: Any, passages: Any) -> Any:
        scans.append(len(index.texts))
        return real(index, passages)

    monkeypatch.setattr(incremental, "scan_few", counting)
    build(fixture_sources, tmp_path / "kg")
    assert scans == []  # its quotes did not change, so they are not matched against every passage again
    assert (tmp_path / "kg" / "dataset.nq").read_bytes() == reference(fixture_sources, tmp_path / "ref")[0]
    post["quotes"][0]["text"] += " more"
    write(path, post)
    build(fixture_sources, tmp_path / "kg")
    assert scans == [1]  # only the changed quote is
    assert (tmp_path / "kg" / "dataset.nq").read_bytes() == reference(fixture_sources, tmp_path / "ref")[0]


def test_only_changed_records_are_read_again(tmp_path: Path, fixture_sources: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    build(fixture_sources, tmp_path / "kg")
    read: list[str] = []
    real = kg.records.read_record

    def counting(path: Path, raw: bytes | None = None) -> Any:
        read.append(path.name)
        return real(path, raw)

    monkeypatch.setattr(kg.records, "read_record", counting)
    build(fixture_sources, tmp_path / "kg")
    assert read == []
    wire = fixture_sources / "wire-2024.yaml"
    wire.write_text(wire.read_text(encoding="utf-8").replace("end exclusivity", "end their exclusivity"),
                    encoding="utf-8")
    build(fixture_sources, tmp_path / "kg")
    assert read == ["wire-2024.yaml"]
    assert (tmp_path / "kg" / "dataset.nq").read_bytes() == reference(fixture_sources, tmp_path / "ref")[0]


def test_a_failing_incremental_build_keeps_the_previous_store_and_dump(tmp_path: Path,
                                                                         fixture_sources: Path) -> None:
    runner = CliRunner()
    build(fixture_sources, tmp_path / "kg")
    dump = (tmp_path / "kg" / "dataset.nq").read_bytes()
    quads = Store(tmp_path / "kg" / "store").nquads()
    wire = fixture_sources / "wire-2024.yaml"
    good = wire.read_text(encoding="utf-8")
    wire.write_text(good.replace("supported_by: [fees]", "supported_by: [fee]"), encoding="utf-8")
    result = runner.invoke(cli, ["--store", str(tmp_path / "kg" / "store"), "build", str(fixture_sources)])
    assert result.exit_code == ExitCode.ERROR
    assert result.stderr.startswith(f"Error: {wire}:") and 'unknown quote "fee"' in result.stderr
    assert (tmp_path / "kg" / "dataset.nq").read_bytes() == dump
    assert Store(tmp_path / "kg" / "store").nquads() == quads
    # A record that breaks a reference another record makes: the same error as a full build.
    wire.write_text(good, encoding="utf-8")
    (fixture_sources / "gazette-2020.yaml").unlink()
    incremental = runner.invoke(cli, ["--store", str(tmp_path / "kg" / "store"), "build", str(fixture_sources)])
    full = runner.invoke(cli, ["--store", str(tmp_path / "full" / "store"), "build", str(fixture_sources)])
    assert incremental.exit_code == full.exit_code == ExitCode.ERROR
    assert incremental.stderr == full.stderr
    assert 'unknown record (cites) "gazette-2020"' in incremental.stderr
    assert (tmp_path / "kg" / "dataset.nq").read_bytes() == dump
    # Fixed again: the next build catches up on both changes.
    shutil.copy(DATA / "sources" / "gazette-2020.yaml", fixture_sources / "gazette-2020.yaml")
    build(fixture_sources, tmp_path / "kg")
    assert (tmp_path / "kg" / "dataset.nq").read_bytes() == dump


def test_a_shacl_violation_in_an_incremental_build_names_the_record_and_keeps_the_store(
        tmp_path: Path, fixture_sources: Path) -> None:
    shapes = shapes_with(
        tmp_path / "shapes.ttl",
        "\nkgs:Headline a sh:NodeShape ; sh:targetClass schema:NewsArticle ;\n"
        '  sh:property [ sh:path schema:headline ; sh:minCount 1 ; sh:message "needs a headline" ] .\n',
    )
    build(fixture_sources, tmp_path / "kg", "--shapes", str(shapes))
    dump = (tmp_path / "kg" / "dataset.nq").read_bytes()
    wire = fixture_sources / "wire-2024.yaml"
    record = yaml.safe_load(wire.read_text(encoding="utf-8"))
    del record["title"]
    write(wire, record)
    store = tmp_path / "kg" / "store"
    result = CliRunner().invoke(cli, ["--store", str(store), "build", str(fixture_sources), "--shapes", str(shapes)])
    assert result.exit_code == ExitCode.ERROR
    assert result.stderr.startswith(f"Error: {fixture_sources.name}/wire-2024.yaml: 1 SHACL violation(s), first: "
                                    "needs a headline")
    assert (tmp_path / "kg" / "dataset.nq").read_bytes() == dump
    assert Store(store).count() == dump.count(b"\n")


def test_a_changed_dump_or_store_makes_a_full_build(tmp_path: Path, fixture_sources: Path) -> None:
    build(fixture_sources, tmp_path / "kg")
    dump_path = tmp_path / "kg" / "dataset.nq"
    good = dump_path.read_bytes()
    dump_path.write_bytes(good[: len(good) // 2])
    build(fixture_sources, tmp_path / "kg")
    assert dump_path.read_bytes() == good
    shutil.rmtree(tmp_path / "kg" / "store")
    build(fixture_sources, tmp_path / "kg")
    assert Store(tmp_path / "kg" / "store").count() == good.count(b"\n")


def test_kg_audit_graphs_go_as_in_a_full_build(tmp_path: Path, fixture_sources: Path) -> None:
    from kg.store import replace_graph

    build(fixture_sources, tmp_path / "kg")
    store = tmp_path / "kg" / "store"
    replace_graph(store, "https://example.org/kg/id/graph/audit/x",
                  "<https://example.org/a> <https://example.org/b> <https://example.org/c> "
                  "<https://example.org/kg/id/graph/audit/x> .\n")
    edit(fixture_sources, "change-claim", random.Random(0), 0)
    build(fixture_sources, tmp_path / "kg")
    assert Store(store).nquads() == reference(fixture_sources, tmp_path / "ref")[1]


def test_splice_removes_and_inserts_sorted_lines(tmp_path: Path) -> None:
    old, new = tmp_path / "old.nq", tmp_path / "new.nq"
    lines = [f"<s{i:03d}> <p> <o> <g> .\n" for i in range(0, 200, 2)]
    old.write_text("".join(lines), encoding="utf-8")
    remove = [lines[0], lines[50], lines[-1]]
    add = ["<a> <p> <o> <g> .\n", "<s051> <p> <o> <g> .\n", "<s051> <p> <o2> <g> .\n", "<z> <p> <o> <g> .\n"]
    splice(old, new, remove=remove, add=sorted(add))
    assert new.read_text(encoding="utf-8") == "".join(sorted(set(lines) - set(remove) | set(add)))
    old.write_text("", encoding="utf-8")
    splice(old, new, remove=[], add=add[:1])
    assert new.read_text(encoding="utf-8") == add[0]


def test_normalize_gives_what_folding_one_character_at_a_time_gives() -> None:
    from kg.matching import _normalize_by_char

    rng = random.Random(5)
    alphabets = ["ab Z\t\n’“”-–—\"'.,", "aB é\u00a0\u2028\x1c\x85\u200b\u3000 xy…’", "aß İ ǅ b ..."]
    fast = 0
    for _ in range(3000):
        text = "".join(rng.choices(rng.choice(alphabets), k=rng.randint(0, 40)))
        assert normalize(text) == _normalize_by_char(text), repr(text)
        fast += "..." not in text and len(text.casefold()) == len(text)
    assert fast > 1500  # most texts take the quick way, the rest the character loop


def test_fold_is_normalize() -> None:
    rng = random.Random(3)
    alphabet = "aB é ß İ\t\n\u00a0...…’“”-–—\"'xyZ,.;!?ǅ"
    for _ in range(2000):
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 30)))
        assert fold(text) == normalize(text)[0], repr(text)


@pytest.mark.parametrize("corpus", [ROOT / "sources", DATA / "sources"])
def test_indexed_matching_is_brute_force_matching(corpus: Path) -> None:
    parsed, _data = make_dataset(corpus)
    quotes = [((d.id, q.id), q.text) for d in parsed.documents if d.type == "analysis" for q in d.quotes]
    passages = [p for d in parsed.documents if d.type != "analysis" for p in document_passages(d)]
    found = QuoteIndex(quotes).scan(passages)
    expected = {(m.record, m.quote): m.match for m in match_quotes(parsed)}
    assert {key: best_match(found.get(key, [])) for key, _t in quotes} == expected


@pytest.mark.parametrize("how", ["one batch", "complete", "batches on every core"])
def test_validating_parts_finds_what_validating_the_whole_dataset_finds(tmp_path: Path, fixture_sources: Path,
                                                                         how: str,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    if how == "batches on every core":  # what a large corpus gets: small batches, in worker processes
        monkeypatch.setattr(part_validation, "POOL_MIN_LINES", 1)
        monkeypatch.setattr(part_validation, "BATCH_MIN_LINES", 100)
    strict = shapes_with(
        tmp_path / "strict.ttl",
        "\nkgs:NeedsAuthor a sh:NodeShape ; sh:targetClass schema:NewsArticle ;\n"
        '  sh:property [ sh:path schema:author ; sh:minCount 1 ; sh:message "needs an author" ] .\n'
        "kgs:PublisherNamed a sh:NodeShape ; sh:targetClass schema:Article ;\n"
        '  sh:property [ sh:path ( schema:publisher schema:name ) ; sh:maxCount 0 ; sh:message "named" ] .\n',
    )
    corpus, data = make_dataset(fixture_sources)
    by_graph: dict[str, list[str]] = {}
    for line in data.splitlines(keepends=True):
        graph = line.rsplit(" ", 2)[1]
        rid = graph.split("/graph/record/")[-1][:-1] if "/graph/record/" in graph else None
        if rid is None and "/np/" in graph:
            rid = graph.split("/np/")[1].split("/")[0]
        by_graph.setdefault(rid or graph, []).append(line)
    ids = {d.id for d in corpus.documents}
    references = "".join(li for key, lines in by_graph.items() if key not in ids for li in lines)
    parts = [Part(rid, rid, "".join(by_graph[rid]), lines=len(by_graph[rid])) for rid in sorted(ids)]
    parts.append(Part("references", None, references, lines=references.count("\n")))
    for shapes in (default_shapes(), strict):
        whole = validate(data, shapes=shapes).violations
        closure = Closure(references, {}, lambda rid: "".join(by_graph.get(rid, [])))
        parted, _deps = validate_parts(parts, closure, shapes, progress=lambda _m: None, complete=how == "complete")
        # focus and message (a sequence path is a blank node, named differently in each run)
        assert sorted((r[1], r[3]) for r in parted.values) == sorted((r[1], r[3]) for r in whole.values)
        assert bool(whole.values) == (shapes == strict)


def test_shapes_that_look_backwards_are_validated_on_the_whole_dataset(tmp_path: Path, fixture_sources: Path) -> None:
    shapes = shapes_with(
        tmp_path / "inverse.ttl",
        "\nkgs:Published a sh:NodeShape ; sh:targetClass schema:NewsMediaOrganization ;\n"
        '  sh:property [ sh:path [ sh:inversePath schema:publisher ] ; sh:minCount 1 ; sh:message "unused" ] .\n',
    )
    build(fixture_sources, tmp_path / "kg", "--shapes", str(shapes))
    assert not (tmp_path / "kg" / "store.cache" / "index.pickle").exists()  # so every build is a full one
    edit(fixture_sources, "change-claim", random.Random(1), 0)
    build(fixture_sources, tmp_path / "kg", "--shapes", str(shapes))
    assert (tmp_path / "kg" / "dataset.nq").read_bytes() == reference(fixture_sources, tmp_path / "ref")[0]


def test_the_sparql_processor_is_rdflibs_again_after_a_build(tmp_path: Path, fixture_sources: Path) -> None:
    from rdflib import plugin
    from rdflib.plugins.sparql.processor import SPARQLProcessor
    from rdflib.query import Processor

    build(fixture_sources, tmp_path / "kg")
    assert plugin.get("sparql", Processor) is SPARQLProcessor


def test_scanning_on_every_core_finds_what_one_scan_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed, _data = make_dataset(ROOT / "sources")
    quotes = [((d.id, q.id), q.text) for d in parsed.documents if d.type == "analysis" for q in d.quotes]
    passages = [p for d in parsed.documents if d.type != "analysis" for p in document_passages(d)]
    expected = QuoteIndex(quotes).scan(passages)
    monkeypatch.setattr(quote_index, "POOL_MIN_PASSAGES", 2)  # the bundled corpus is below the real threshold
    found = quote_index.scan_passages(QuoteIndex(quotes), passages)
    assert found == expected
    assert list(found) == list(expected) and sum(len(f) for f in found.values()) >= 10


@pytest.mark.parametrize("corpus", [ROOT / "sources", DATA / "sources"])
def test_scanning_few_quotes_by_their_words_finds_what_scanning_every_passage_finds(corpus: Path) -> None:
    parsed, _data = make_dataset(corpus)
    quotes = [((d.id, q.id), q.text) for d in parsed.documents if d.type == "analysis" for q in d.quotes]
    passages = [p for d in parsed.documents if d.type != "analysis" for p in document_passages(d)]
    worded = [(k, t, quote_index.passage_words(t)) for k, t in passages]
    rng = random.Random(8)
    found_any = 0
    for n in [1, 1, 1, 2, 3, len(quotes)]:
        chosen = rng.sample(quotes, min(n, len(quotes)))
        expected = quote_index.scan_passages(QuoteIndex(chosen), passages)
        assert quote_index.scan_few(QuoteIndex(chosen), worded) == expected
        found_any += bool(expected)
    assert found_any >= 2


def test_the_quote_index_survives_pickling_and_edits() -> None:
    import pickle

    parsed, _data = make_dataset(ROOT / "sources")
    quotes = [((d.id, q.id), q.text) for d in parsed.documents if d.type == "analysis" for q in d.quotes]
    quotes.append((("extra", "short"), "Azure"))  # a one-word quote: tried on every passage
    passages = [p for d in parsed.documents if d.type != "analysis" for p in document_passages(d)]
    expected = QuoteIndex(quotes).scan(passages)
    index = pickle.loads(pickle.dumps(QuoteIndex(quotes[:3])))
    index.add(quotes[3:])
    index.remove([quotes[0][0], quotes[-1][0]])
    index = pickle.loads(pickle.dumps(index))
    index.add([quotes[0], quotes[-1]])
    assert index.scan(passages) == expected
    assert expected[("extra", "short")]  # found without a bigram to look it up by


def test_the_cache_keeps_units_in_a_few_packs_and_rewrites_them_when_mostly_dead(
        tmp_path: Path, fixture_sources: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kg import build_cache

    units = tmp_path / "kg" / "store.cache" / "units"

    def packs() -> tuple[int, int, int]:
        """How many packs, their bytes, and the bytes of the units the index uses."""
        index = build_cache.Cache(tmp_path / "kg" / "store").load_index()
        assert index is not None
        live = sum(e.where.lines + e.where.model for e in index.entries.values() if e.where is not None)
        files = list(units.iterdir())
        return len(files), sum(p.stat().st_size for p in files), live

    build(fixture_sources, tmp_path / "kg")
    assert [p.suffix for p in units.iterdir()] == [".pack"]  # one process read the records: one file
    (units / "left-by-a-crash.pack").write_bytes(b"x")  # no index names it
    monkeypatch.setattr(build_cache, "COMPACT_SLACK", 0)
    documents = [(p, r) for p, r in records(fixture_sources) if r.get("claims")]
    for n, (path, record) in enumerate(documents):  # one build changes every document: its units share a pack
        record["claims"][0]["text"] += f" Edit {n}."
        write(path, record)
    build(fixture_sources, tmp_path / "kg")
    count, total, live = packs()
    assert count == 2 and total < 2 * live  # the first pack still holds the organizations and the agreement
    for n, (path, record) in enumerate(documents[1:]):  # the next changes all but one: that pack is mostly dead
        record["claims"][0]["text"] += f" Again {n}."
        write(path, record)
    build(fixture_sources, tmp_path / "kg")
    count, total, live = packs()
    assert count == 1 and total == live  # so the live units were rewritten into one pack
    assert (tmp_path / "kg" / "dataset.nq").read_bytes() == reference(fixture_sources, tmp_path / "ref")[0]
    edit(fixture_sources, "change-claim", random.Random(4), 0)
    build(fixture_sources, tmp_path / "kg")  # and builds go on from the rewritten pack
    assert (tmp_path / "kg" / "dataset.nq").read_bytes() == reference(fixture_sources, tmp_path / "ref")[0]
