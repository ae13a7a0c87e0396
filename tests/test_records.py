"""Bad input: one clear Error line with file and line, exit 1, and the previous store and dump intact."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DATA, ROOT

import kg.records
from kg.cli import ExitCode, cli
from kg.store import Store

Edit = Callable[[Path], None]


def replace(name: str, old: str, new: str) -> Edit:
    def edit(sources: Path) -> None:
        path = sources / name
        data, before, after = path.read_bytes(), old.encode("utf-8"), new.encode("utf-8", "surrogateescape")
        assert before in data, f"fixture changed: {old!r} not in {name}"
        path.write_bytes(data.replace(before, after, 1))

    return edit


def write(name: str, data: bytes) -> Edit:
    def edit(sources: Path) -> None:
        (sources / name).write_bytes(data)

    return edit


# (case id, edit, file, line, words the message must contain)
CASES: list[tuple[str, Edit, str, int, str]] = [
    (
        "yaml-syntax",
        replace("wire-2024.yaml", "text: Acme and Globex end exclusivity", "text: Acme: and: Globex"),
        "wire-2024.yaml",
        7,
        "mapping values are not allowed",
    ),
    (
        "missing-field",
        replace("wire-2024.yaml", "publisher: daily-wire\n", ""),
        "wire-2024.yaml",
        2,
        'has no "publisher" field',
    ),
    (
        "unknown-publisher",
        replace("wire-2024.yaml", "publisher: daily-wire", "publisher: daily-wyre"),
        "wire-2024.yaml",
        4,
        'unknown organization (publisher) "daily-wyre"',
    ),
    (
        "unknown-evidence",
        replace("wire-2024.yaml", "  seen_at: own\nurl:", "  seen_at: archive\nurl:"),
        "wire-2024.yaml",
        8,
        'unknown evidence entry "archive"',
    ),
    (
        "unknown-quote",
        replace("wire-2024.yaml", "supported_by: [fees]", "supported_by: [fee]"),
        "wire-2024.yaml",
        44,
        'unknown quote "fee"',
    ),
    (
        "duplicate-quote-id",
        replace("wire-2024.yaml", "  - id: fees\n    where: body", "  - id: hosts\n    where: body"),
        "wire-2024.yaml",
        27,
        'duplicate quote id "hosts"',
    ),
    (
        "duplicate-claim-id",
        replace("wire-2024.yaml", "  - id: fees-end", "  - id: hosts"),
        "wire-2024.yaml",
        39,
        'duplicate claim id "hosts"',
    ),
    (
        "duplicate-org-id",
        replace("orgs.yaml", "  - id: globex\n", "  - id: acme\n"),
        "orgs.yaml",
        13,
        'duplicate organization id "acme"',
    ),
    (
        "bad-date-format",
        replace("wire-2024.yaml", "date: 2024-05-20", "date: 20/05/2024"),
        "wire-2024.yaml",
        11,
        "is not a date. Write it as YYYY-MM-DD",
    ),
    (
        "impossible-date",
        replace("wire-2024.yaml", "date: 2024-05-20", "date: 2024-02-30"),
        "wire-2024.yaml",
        11,
        "is not a real date",
    ),
    (
        "bad-url",
        replace("wire-2024.yaml", "url: https://mirror.example.net/acme-globex", "url: mirror.example.net/acme"),
        "wire-2024.yaml",
        20,
        "is not an http(s) URL",
    ),
    (
        "url-without-host",
        replace("wire-2024.yaml", "url: https://mirror.example.net/acme-globex", "url: https://localhost"),
        "wire-2024.yaml",
        20,
        "is not a web address",
    ),
    (
        "iri-unsafe-id",
        replace("wire-2024.yaml", "  - id: hosts\n    where: lede", "  - id: Hosts Now\n    where: lede"),
        "wire-2024.yaml",
        23,
        "is not an IRI-safe id",
    ),
    (
        "not-utf8",
        replace("wire-2024.yaml", "Acme and Globex end exclusivity", "Acme and Globex end exclusivit\udce9"),
        "wire-2024.yaml",
        7,
        "not UTF-8",
    ),
    ("empty-file", write("wire-2024.yaml", b""), "wire-2024.yaml", 1, "the file is empty"),
    ("not-a-mapping", write("wire-2024.yaml", b"- just\n- a list\n"), "wire-2024.yaml", 1, "must be a mapping"),
    (
        "unknown-field",
        replace("wire-2024.yaml", "about_event: v2024", "about_evnt: v2024"),
        "wire-2024.yaml",
        5,
        "'about_evnt' was unexpected",
    ),
    (
        "duplicate-key",
        replace("wire-2024.yaml", "about_event: v2024\n", "about_event: v2024\nabout_event: v2023\n"),
        "wire-2024.yaml",
        6,
        'duplicate key "about_event"',
    ),
    (
        "unknown-clause",
        replace("wire-2024.yaml", "{clause: exclusivity,", "{clause: exclusive,"),
        "wire-2024.yaml",
        37,
        'unknown clause "exclusive"',
    ),
    (
        "unknown-version",
        replace("wire-2024.yaml", "version: v2024, status: non-exclusive", "version: v2025, status: non-exclusive"),
        "wire-2024.yaml",
        37,
        'unknown event (version) "v2025"',
    ),
    (
        "topic-and-clause",
        replace("blog-post.yaml", "{topic: acme-own-models}", "{topic: acme-own-models, clause: veto}"),
        "blog-post.yaml",
        58,
        "either clause + version + status, or a topic",
    ),
    (
        "quote-not-in-context",
        replace("wire-2024.yaml", "text: Acme will stop paying fees to Globex.", "text: Acme will stop paying Globex."),
        "wire-2024.yaml",
        29,
        "text is not part of its context",
    ),
    (
        "url-not-own-page",
        replace(
            "wire-2024.yaml",
            "url: https://wire.example.com/acme-globex-2024\npublished",
            "url: https://wire.example.com/other\npublished",
        ),
        "wire-2024.yaml",
        9,
        "url must be the outlet's own page",
    ),
    (
        "unknown-type",
        replace("wire-2024.yaml", "type: news-article", "type: newspaper"),
        "wire-2024.yaml",
        3,
        '"type" must be one of',
    ),
    (
        "bad-status",
        replace("wire-2024.yaml", "status: non-exclusive", "status: open"),
        "wire-2024.yaml",
        37,
        "'open' is not one of",
    ),
    (
        "file-name-mismatch",
        replace("wire-2024.yaml", "id: wire-2024\n", "id: wire-2025\n"),
        "wire-2024.yaml",
        2,
        "does not match the file name",
    ),
    (
        "secondary-without-url",
        replace("wire-2024.yaml", "    url: https://mirror.example.net/acme-globex\n", ""),
        "wire-2024.yaml",
        19,
        'has neither "url" nor "ref"',
    ),
    (
        "context-event-as-version",
        replace("deal.yaml", "    kind: version\n    date: 2024-05-20", "    kind: context\n    date: 2024-05-20"),
        "blog-post.yaml",
        37,
        "is a context event, not a version",
    ),
    (
        "unknown-cited-record",
        replace("blog-post.yaml", "cites: [wire-2024, gazette-2020]", "cites: [wire-2024, gazette-2021]"),
        "blog-post.yaml",
        14,
        'unknown record (cites) "gazette-2021"',
    ),
    (
        "version-without-date",
        replace("deal.yaml", "    kind: version\n    date: 2020-01-10\n", "    kind: version\n"),
        "deal.yaml",
        31,
        "has no date",
    ),
]


@pytest.mark.parametrize(("edit", "file", "line", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_record_gives_one_error_line_and_keeps_the_store(
    runner: CliRunner, built_store: Path, fixture_sources: Path, edit: Edit, file: str, line: int, words: str
) -> None:
    dump = built_store.parent / "dataset.nq"
    before = dump.read_bytes()
    edit(fixture_sources)
    path = fixture_sources / file
    result = runner.invoke(cli, ["--store", str(built_store), "build", str(fixture_sources)])
    assert result.exit_code == ExitCode.ERROR, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: {path}:{line}: "), result.stderr
    assert words in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert dump.read_bytes() == before
    assert Store(built_store).count() == before.count(b"\n")


def test_there_are_at_least_twenty_bad_input_cases() -> None:
    assert len(CASES) >= 20


def test_missing_sources_directory(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["--store", str(tmp_path / "s"), "build", str(tmp_path / "nowhere")])
    assert result.exit_code == ExitCode.ERROR
    assert (
        result.stderr
        == f"Error: {tmp_path / 'nowhere'}: no such directory. Pass the folder that holds the source records\n"
    )


def _mutations(data: object, rng: random.Random) -> object:
    """data with one random change somewhere: a key dropped or added, a value of another type or an empty one."""
    data = copy.deepcopy(data)
    spots: list[tuple[object, object]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            spots.extend((node, k) for k in node)
            spots.append((node, None))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            spots.extend((node, i) for i in range(len(node)))
            for v in node:
                walk(v)

    walk(data)
    parent, key = rng.choice(spots)
    values = [None, 0, -1, 1.5, True, "", "x", "Not An Id!", "2026-13-45", [], {}, ["x"], {"x": 1}]
    if key is None:
        parent[rng.choice(["extra", "id", "type", "text", "url"])] = rng.choice(values)  # type: ignore[index]
    elif rng.random() < 0.3 and isinstance(parent, dict):
        del parent[key]
    elif isinstance(parent, list) and rng.random() < 0.3:
        parent.append(copy.deepcopy(parent[key]))  # type: ignore[index]
    else:
        parent[key] = rng.choice(values)  # type: ignore[index]
    return data


def test_the_compiled_schema_check_agrees_with_jsonschema() -> None:
    """Records that pass the fast check (fastjsonschema) are exactly those jsonschema finds no error in."""
    paths = [*sorted((ROOT / "sources").glob("*.yaml")), *sorted((DATA / "sources").glob("*.yaml")),
             *sorted((DATA / "hostile").glob("*.yaml"))]
    rng = random.Random(7)
    checked = invalid = 0
    for path in paths:
        data = kg.records.parse_yaml(path, path.read_bytes()).data
        for _ in range(40):
            mutated = _mutations(data, rng)
            rtype = mutated.get("type") if isinstance(mutated, dict) else None
            kinds = [t for t in kg.records._schema()["properties"]["type"]["enum"]]
            if rtype not in kinds:
                continue
            kind = "document" if rtype in kg.records.DOCUMENT_TYPES else rtype
            fast = kg.records._passes(kg.records._fast_check(kind), mutated)
            full = not any(True for _e in kg.records._validator(kind).iter_errors(mutated))
            assert fast == full, (path.name, mutated)
            checked += 1
            invalid += not full
    assert checked > 500 and invalid > 200


def test_the_generated_checks_are_those_of_the_schema() -> None:
    """kg/record_checks.py is what `python -m kg.records` writes from the schema now, so builds use it."""
    from kg import record_checks

    assert (ROOT / "kg" / "record_checks.py").read_text(encoding="utf-8") == kg.records.checks_code()
    assert kg.records._fast_check("document") is record_checks.CHECKS["document"]


def test_a_schema_edited_without_regenerating_the_checks_is_still_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the schema's checksum differs from the generated module's, the checks are generated in memory."""
    from kg import record_checks

    monkeypatch.setattr(record_checks, "SCHEMA_CRC32", 0)  # as if the schema had changed since
    kg.records._fast_check.cache_clear()
    try:
        check = kg.records._fast_check("agreement")
        assert check is not record_checks.CHECKS["agreement"]
        assert kg.records._passes(check, {"type": "agreement"}) is False
        path = ROOT / "sources" / "openai-microsoft-partnership.yaml"
        assert kg.records._passes(check, kg.records.parse_yaml(path, path.read_bytes()).data)
    finally:
        kg.records._fast_check.cache_clear()


def test_records_parse_to_what_pyyamls_own_safe_loader_gives() -> None:
    """kg's loader (libyaml, its own resolver, text without the constructor) gives PyYAML's values, dates as text."""
    import yaml

    class Reference(yaml.SafeLoader):
        pass

    Reference.yaml_implicit_resolvers = {
        k: [(t, r) for t, r in v if t != "tag:yaml.org,2002:timestamp"]
        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    scalars = ["", "~", "null", "Null", "true", "False", "yes", "no", "on", "OFF", "y", "0", "-1", "+7", "0x1F", "0o17",
               "012", "1_000", "3.5", "-.inf", "1e3", "2026-04-27", "2026-04-27T10:00:00Z", "12:30", "'quoted'",
               '"42"', "!!str 42", "plain text", "a- b", "<<x", "=", "é", "“curly”", "[1, two]", "{a: 1}"]
    rng = random.Random(11)
    compared = 0
    for _ in range(300):
        keys = rng.sample(range(100), 6)
        text = "\n".join(f"k{k}: {rng.choice(scalars)}" for k in keys) + "\nlist:\n" + "".join(
            f"  - {rng.choice(scalars)}\n" for _ in range(4))
        try:
            want = yaml.load(text, Loader=Reference)  # a SafeLoader subclass
        except yaml.YAMLError:
            continue
        assert kg.records.parse_yaml(Path("t.yaml"), text.encode()).data == want, text
        compared += 1
    assert compared > 200
