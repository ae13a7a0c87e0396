"""Read sources/*.yaml into model objects; every error names the file and line and how to fix it."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from kg.errors import SourceError
from kg.model import (
    Agreement,
    Assertion,
    Claim,
    Clause,
    Corpus,
    Document,
    Event,
    Evidence,
    Organization,
    Quote,
    Registry,
    Section,
    Seen,
    Topic,
)

FORMAT_HELP = "See 'Source records' in README.md"
DOCUMENT_TYPES = ("news-article", "company-announcement", "analysis")


# libyaml's parser when PyYAML was built with it: the same nodes and marks, several times faster.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[misc]
    """SafeLoader that keeps dates as strings (we check them ourselves, with line numbers)."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        """The tag of a node, as PyYAML's resolver gives it, without its list copies for every scalar."""
        if kind is yaml.ScalarNode:
            if implicit[0]:
                for tag, regexp in self.yaml_implicit_resolvers.get(value[:1], ()):
                    if regexp.match(value):
                        return tag
            return self.DEFAULT_SCALAR_TAG
        return super().resolve(kind, value, implicit)


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# what resolve() leaves out: resolvers for every first character, and resolvers by path
assert None not in _Loader.yaml_implicit_resolvers and not _Loader.yaml_path_resolvers

Path_ = tuple[str | int, ...]


@dataclass
class _Parsed:
    """A YAML document as plain Python values, plus the line of every key and item."""

    path: Path
    data: Any
    lines: dict[Path_, int]

    def line(self, at: Path_) -> int:
        """The line of the deepest known prefix of `at` (1-based)."""
        for end in range(len(at), -1, -1):
            if at[:end] in self.lines:
                return self.lines[at[:end]]
        return 1

    def fail(self, at: Path_, message: str) -> SourceError:
        return SourceError(self.path, message, line=self.line(at))


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise SourceError(path, f"not UTF-8 (byte 0x{raw[e.start]:02x}). Save the file as UTF-8", line=line) from None


_STR_TAG = "tag:yaml.org,2002:str"


def _scalar(loader: _Loader, node: yaml.Node) -> Any:
    if node.tag == _STR_TAG and isinstance(node, yaml.ScalarNode):
        return node.value  # what the constructor gives for text, without its dispatch (most values are text)
    return loader.construct_object(node)


def _to_python(loader: _Loader, node: yaml.Node, at: Path_, lines: dict[Path_, int], path: Path) -> Any:
    lines[at] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(loader, key_node)
            if not isinstance(key, str):
                raise SourceError(path, f"key {key!r} is not text. Use a name", line=key_node.start_mark.line + 1)
            if key in out:
                raise SourceError(
                    path,
                    f'duplicate key "{key}". Remove one of the two',
                    line=key_node.start_mark.line + 1,
                )
            out[key] = _to_python(loader, value_node, (*at, key), lines, path)
            lines[(*at, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(loader, item, (*at, i), lines, path) for i, item in enumerate(node.value)]
    return _scalar(loader, node)


def parse_yaml(path: Path, raw: bytes) -> _Parsed:
    """Parse one record file; YAML syntax errors become SourceErrors with the line."""
    text = _decode(path, raw)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SourceError(path, "the file is empty. Write a record (see README 'Source records')", line=1)
        lines: dict[Path_, int] = {}
        data = _to_python(loader, node, (), lines, path)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        raise SourceError(path, f"invalid YAML: {e.problem or e}. Fix the syntax", line=line) from None
    except yaml.YAMLError as e:
        raise SourceError(path, f"invalid YAML: {e}. Fix the syntax") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise SourceError(path, "a record must be a mapping of fields (key: value)", line=1)
    return _Parsed(path, data, lines)


@functools.cache
def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(_schema_text())
    return schema


@functools.cache
def _validator(kind: str) -> Any:
    """The JSON Schema validator of one kind of record, built once per process."""
    import jsonschema  # only the build needs it

    defs = _schema()["$defs"]
    return jsonschema.Draft202012Validator({"$defs": defs, **_inline_refs(defs[kind], defs, ())})


def prepare_checks() -> None:
    """Make every kind's checks now: before forking workers, so that none of them repeats it."""
    for kind in _checked_kinds():
        _fast_check(kind)


def _checked_kinds() -> tuple[str, ...]:
    """The kinds of record with a schema of their own: the three document types share one."""
    return ("document", *(t for t in _schema()["properties"]["type"]["enum"] if t not in DOCUMENT_TYPES))


CHECKS_MODULE = "record_checks.py"


@functools.cache
def _fast_check(kind: str) -> Any:
    """The schema of one kind of record as Python code (fastjsonschema's), once per process.

    A record that passes it is valid; one that fails is checked again by jsonschema, whose errors
    give the message and the line. The compiled check is several times faster than jsonschema, and
    a build of valid records never imports jsonschema. The code is generated ahead of time into
    kg/record_checks.py (generating and compiling it took a third of a small build); when the
    schema no longer matches what it was generated from, it is generated here instead.
    """
    from kg import record_checks

    if _schema_crc32() == record_checks.SCHEMA_CRC32:
        return record_checks.CHECKS[kind]
    namespace: dict[str, Any] = {}
    exec(compile(checks_code(), CHECKS_MODULE, "exec"), namespace)
    return namespace["CHECKS"][kind]


@functools.cache
def _schema_text() -> str:
    # beside this module (importlib.resources would cost a small build a dozen more module imports)
    return (Path(__file__).parent / "schema" / "record.schema.json").read_text(encoding="utf-8")


def _schema_crc32() -> int:
    import zlib  # a checksum to notice an edit, not a defence against tampering

    return zlib.crc32(_schema_text().encode("utf-8"))


def checks_code() -> str:
    """The source of kg/record_checks.py: one check function per kind of record."""
    import fastjsonschema

    defs = _schema()["$defs"]
    kinds = {kind: _inline_refs(defs[kind], defs, ()) for kind in _checked_kinds()}
    # one schema whose $defs are the kinds, so they share one table of compiled patterns
    root = {"$id": "record", "$defs": kinds, "anyOf": [{"$ref": f"#/$defs/{kind}"} for kind in kinds]}
    # format is an annotation for jsonschema (dates are checked later, with their line): the same here
    code = fastjsonschema.compile_to_code(root, use_formats=False)
    table = "".join(f'    "{kind}": validate_record___defs_{kind},\n' for kind in kinds)
    return (
        "# Generated by `python -m kg.records` from kg/schema/record.schema.json: do not edit.\n"
        "# kg.records generates it again, in memory, when the schema's checksum differs.\n"
        "# ruff: noqa\n"
        "# mypy: ignore-errors\n"
        f"SCHEMA_CRC32 = {_schema_crc32()}\n{code}\n\nCHECKS = {{\n{table}}}\n"
    )


def _inline_refs(node: Any, defs: dict[str, Any], seen: tuple[str, ...]) -> Any:
    """The schema with each local $ref replaced by what it points to (a cycle keeps its $ref).

    jsonschema resolves a $ref on every use, which was half the time of checking a record.

    >>> _inline_refs({"$ref": "#/$defs/id", "description": "d"}, {"id": {"type": "string"}}, ())
    {'type': 'string', 'description': 'd'}
    """
    if isinstance(node, list):
        return [_inline_refs(v, defs, seen) for v in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref", "")
    name = ref.removeprefix("#/$defs/")
    if ref.startswith("#/$defs/") and name in defs and name not in seen:
        # the other keys beside a $ref are annotations ("description") in our schema
        return {**_inline_refs(defs[name], defs, (*seen, name)), **{k: v for k, v in node.items() if k != "$ref"}}
    return {k: _inline_refs(v, defs, seen) for k, v in node.items()}


def _passes(check: Any, data: Any) -> bool:
    from fastjsonschema import JsonSchemaException

    try:
        check(data)
    except JsonSchemaException:
        return False
    return True


def _check_schema(doc: _Parsed) -> None:
    schema = _schema()
    rtype = doc.data.get("type")
    if rtype not in schema["properties"]["type"]["enum"]:
        choices = ", ".join(schema["properties"]["type"]["enum"])
        raise doc.fail(("type",), f'"type" must be one of {choices}; it is {rtype!r}. Set the record type')
    kind = "document" if rtype in DOCUMENT_TYPES else rtype
    if _passes(_fast_check(kind), doc.data):
        return
    validator = _validator(kind)
    errors = sorted(
        validator.iter_errors(doc.data), key=lambda e: (doc.line(tuple(e.absolute_path)), str(e.absolute_path))
    )
    if errors:
        first = errors[0]
        at = tuple(first.absolute_path)
        if first.validator == "additionalProperties":  # point at the unexpected key itself
            allowed = set(first.schema.get("properties", {}))
            extra = sorted(k for k in first.instance if k not in allowed)
            if extra:
                at = (*at, extra[0])
        raise doc.fail(at, _explain(first))


def _explain(error: Any) -> str:
    """A one-line, fix-oriented message for a JSON Schema error."""
    where = ".".join(str(p) for p in error.absolute_path) or "record"
    validator = error.validator
    if validator == "required":
        missing = error.message.split("'")[1]
        return f'{where} has no "{missing}" field. Add it ({FORMAT_HELP})'
    if validator == "additionalProperties":
        return f"{where}: {error.message}. Remove or rename the field ({FORMAT_HELP})"
    if validator == "pattern" and "a-z0-9" in str(error.validator_value):
        return f"{where}: {error.instance!r} is not an IRI-safe id. Use lower-case letters, digits and hyphens"
    if validator == "pattern" and "https?" in str(error.validator_value):
        return f"{where}: {error.instance!r} is not an http(s) URL. Write the full address"
    if validator == "pattern" and "[0-9]{4}" in str(error.validator_value):
        return f"{where}: {error.instance!r} is not a date. Write it as YYYY-MM-DD"
    if validator == "enum":
        choices = ", ".join(str(c) for c in error.validator_value)
        return f"{where}: {error.instance!r} is not one of: {choices}"
    if validator == "oneOf" and "asserts" in where:
        return f"{where}: give either clause + version + status, or a topic ({FORMAT_HELP})"
    if validator == "type":
        return f"{where}: {error.message}. Fix the value"
    return f"{where}: {error.message} ({FORMAT_HELP})"


def _check_date(doc: _Parsed, at: Path_, value: str | None) -> None:
    if value is None:
        return
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise doc.fail(at, f"{value!r} is not a real date. Write it as YYYY-MM-DD") from None


def _check_url(doc: _Parsed, at: Path_, value: str | None) -> None:
    if value is None:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or "." not in parts.netloc:
        raise doc.fail(at, f"{value!r} is not a web address. Write the full http(s) URL")


def _evidence(doc: _Parsed) -> dict[str, Evidence]:
    out: dict[str, Evidence] = {}
    for key, ev in doc.data["evidence"].items():
        at = ("evidence", key)
        if "url" not in ev and "ref" not in ev:
            raise doc.fail(at, f'evidence "{key}" has neither "url" nor "ref". Add where it was seen')
        if ev["copy"] == "reference" and "url" in ev:
            raise doc.fail(
                at,
                f'evidence "{key}" has a url, so its copy is not "reference". '
                "Say own-page, same-publisher or secondary",
            )
        if ev["copy"] != "reference" and "url" not in ev:
            raise doc.fail(
                at,
                f'evidence "{key}" is a {ev["copy"]} copy without a url. Add the url, or use copy: reference with ref',
            )
        _check_url(doc, (*at, "url"), ev.get("url"))
        out[key] = Evidence(key, ev["copy"], ev.get("url"), ev.get("ref"), ev.get("note"))
    return out


def _seen(doc: _Parsed, at: Path_, value: dict[str, Any] | None, evidence: dict[str, Evidence]) -> Seen | None:
    if value is None:
        return None
    _check_ref(doc, (*at, "seen_at"), value["seen_at"], evidence, "evidence entry")
    _check_date(doc, (*at, "date"), value.get("date"))
    return Seen(
        value["seen_at"],
        value.get("text"),
        value.get("date"),
        value.get("basis"),
        value.get("confirmed"),
        value.get("note"),
    )


def _check_ref(doc: _Parsed, at: Path_, ref: str, known: Iterable[str], what: str) -> None:
    names = set(known)
    if ref not in names:
        hint = ", ".join(sorted(names)[:8]) or "none defined"
        raise doc.fail(at, f'unknown {what} "{ref}". Use one of: {hint}')


def _unique(doc: _Parsed, items: list[dict[str, Any]], at: Path_, what: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item["id"] in seen:
            raise doc.fail((*at, i, "id"), f'duplicate {what} id "{item["id"]}". Give each {what} its own id')
        seen.add(item["id"])


def _document(doc: _Parsed) -> Document:
    d = doc.data
    evidence = _evidence(doc)
    quotes_raw: list[dict[str, Any]] = d.get("quotes", [])
    claims_raw: list[dict[str, Any]] = d.get("claims", [])
    sections_raw: list[dict[str, Any]] = d.get("sections", [])
    _unique(doc, quotes_raw, ("quotes",), "quote")
    _unique(doc, claims_raw, ("claims",), "claim")
    _unique(doc, sections_raw, ("sections",), "section")
    _check_date(doc, ("retrieved",), d["retrieved"])
    _check_url(doc, ("url",), d.get("url"))
    if "url" in d and not any(e.copy == "own-page" and e.url == d["url"] for e in evidence.values()):
        raise doc.fail(
            ("url",),
            "url must be the outlet's own page as seen: "
            "add an evidence entry with this url and copy: own-page, or remove url",
        )
    quotes = []
    for i, q in enumerate(quotes_raw):
        at: Path_ = ("quotes", i)
        if "seen_at" in q:
            _check_ref(doc, (*at, "seen_at"), q["seen_at"], evidence, "evidence entry")
        if "context" in q and q["text"] not in q["context"]:
            raise doc.fail(
                (*at, "text"),
                f'quote "{q["id"]}": text is not part of its context. Copy the exact span from the context',
            )
        quotes.append(
            Quote(
                q["id"], q["text"], doc.line(at), q.get("context"), q.get("where"), q.get("speaker"), q.get("seen_at")
            )
        )
    quote_ids = [q.id for q in quotes]
    section_ids = [s["id"] for s in sections_raw]
    claims = []
    for i, c in enumerate(claims_raw):
        at = ("claims", i)
        for field in ("supported_by", "disputed_by"):
            for j, ref in enumerate(c.get(field, [])):
                _check_ref(doc, (*at, field, j), ref, quote_ids, "quote")
        if "section" in c:
            _check_ref(doc, (*at, "section"), c["section"], section_ids, "section")
        asserts = tuple(Assertion(doc.line((*at, "asserts", j)), **a) for j, a in enumerate(c.get("asserts", [])))
        claims.append(
            Claim(
                c["id"],
                c["kind"],
                c["text"],
                doc.line(at),
                c.get("section"),
                asserts,
                tuple(c.get("supported_by", [])),
                tuple(c.get("disputed_by", [])),
            )
        )
    return Document(
        id=d["id"],
        type=d["type"],
        path=doc.path,
        publisher=d["publisher"],
        retrieved=d["retrieved"],
        evidence=evidence,
        title=_seen(doc, ("title",), d.get("title"), evidence),
        dek=_seen(doc, ("dek",), d.get("dek"), evidence),
        url=d.get("url"),
        published=_seen(doc, ("published",), d.get("published"), evidence),
        authors=tuple(s for i, a in enumerate(d.get("authors", [])) if (s := _seen(doc, ("authors", i), a, evidence))),
        about_event=d.get("about_event"),
        status=d.get("status", "found"),
        note=d.get("note"),
        cites=tuple(d.get("cites", [])),
        sections=tuple(Section(s["id"], s["title"]) for s in sections_raw),
        quotes=tuple(quotes),
        claims=tuple(claims),
        lines={k: v for k, v in ((str(at[0]), line) for at, line in doc.lines.items() if len(at) == 1)},
    )


def _registry(doc: _Parsed) -> Registry:
    evidence = _evidence(doc)
    items: list[dict[str, Any]] = doc.data["organizations"]
    _unique(doc, items, ("organizations",), "organization")
    orgs = []
    for i, o in enumerate(items):
        wd = o.get("wikidata") or {}
        if wd:
            _check_ref(doc, ("organizations", i, "wikidata", "seen_at"), wd["seen_at"], evidence, "evidence entry")
        orgs.append(
            Organization(
                o["id"],
                o["name"],
                o["kind"],
                doc.line(("organizations", i)),
                o.get("part_of"),
                wd.get("qid"),
                wd.get("note"),
                wd.get("seen_at"),
            )
        )
    return Registry(doc.data["id"], doc.path, evidence, tuple(orgs))


def _agreement(doc: _Parsed) -> Agreement:
    d = doc.data
    evidence = _evidence(doc)
    for key in ("clauses", "events", "topics"):
        _unique(doc, d.get(key, []), (key,), key[:-1])
    clause_ids = [c["id"] for c in d["clauses"]]
    for i, c in enumerate(d["clauses"]):
        for j, part in enumerate(c.get("parts", [])):
            _check_ref(doc, ("clauses", i, "parts", j), part, clause_ids, "clause")
    for i, e in enumerate(d["events"]):
        _check_date(doc, ("events", i, "date"), e.get("date"))
        if "seen_at" in e:
            _check_ref(doc, ("events", i, "seen_at"), e["seen_at"], evidence, "evidence entry")
        if e["kind"] == "version" and "date" not in e:
            raise doc.fail(
                ("events", i), f'version event "{e["id"]}" has no date. Versions are ordered by date: add it'
            )
    return Agreement(
        d["id"],
        doc.path,
        d["name"],
        tuple(d["parties"]),
        evidence,
        tuple(Clause(c["id"], c["label"], c["description"], tuple(c.get("parts", []))) for c in d["clauses"]),
        tuple(
            Event(e["id"], e["label"], e["kind"], e.get("date"), e.get("note"), e.get("seen_at")) for e in d["events"]
        ),
        tuple(Topic(t["id"], t["label"]) for t in d.get("topics", [])),
    )


def read_record(path: Path, raw: bytes | None = None) -> Document | Registry | Agreement:
    """Read and check one record file on its own (cross-record references are checked later)."""
    doc = parse_yaml(path, path.read_bytes() if raw is None else raw)
    _check_schema(doc)
    if path.stem != doc.data["id"]:
        raise doc.fail(
            ("id",),
            f'the id "{doc.data["id"]}" does not match the file name. '
            f'Rename the file to {doc.data["id"]}.yaml or change the id',
        )
    rtype = doc.data["type"]
    if rtype in DOCUMENT_TYPES:
        return _document(doc)
    if rtype == "organizations":
        return _registry(doc)
    return _agreement(doc)


def record_paths(directory: Path) -> list[Path]:
    """The record files of a sources directory, sorted so every build reads them in one order."""
    if not directory.is_dir():
        raise SourceError(directory, "no such directory. Pass the folder that holds the source records")
    return sorted(p for p in directory.glob("*.yaml") if p.is_file())


def read_corpus(directory: Path) -> Corpus:
    """Read every record in directory and check the references between them."""
    paths = record_paths(directory)
    if not paths:
        raise SourceError(directory, "no *.yaml records found. Add source records (see README 'Source records')")
    return check_corpus([read_record(p) for p in paths])


def check_corpus(records: list[Document | Registry | Agreement]) -> Corpus:
    """Check ids across records: unique record ids, and every reference resolves."""
    seen: dict[str, Path] = {}
    for r in records:
        if r.id in seen:
            raise SourceError(
                r.path, f'duplicate record id "{r.id}" (also in {seen[r.id]}). Give each record its own id', line=1
            )
        seen[r.id] = r.path
    corpus = Corpus(
        documents=tuple(r for r in records if isinstance(r, Document)),
        registries=tuple(r for r in records if isinstance(r, Registry)),
        agreements=tuple(r for r in records if isinstance(r, Agreement)),
    )
    _check_cross_references(corpus)
    return corpus


def _check_cross_references(corpus: Corpus) -> None:
    orgs, events, clauses = corpus.organizations(), corpus.events(), corpus.clauses()
    org_ids: dict[str, Path] = {}
    for reg in corpus.registries:
        for o in reg.organizations:
            if o.id in org_ids:
                raise SourceError(
                    reg.path, f'duplicate organization id "{o.id}" (also in {org_ids[o.id]}). Keep one', line=o.line
                )
            org_ids[o.id] = reg.path
        for o in reg.organizations:
            if o.part_of is not None:
                _need(reg.path, o.line, o.part_of, orgs, "organization")
    for ag in corpus.agreements:
        for party in ag.parties:
            _need(ag.path, 1, party, orgs, "organization")
    topics = {t.id for a in corpus.agreements for t in a.topics}
    record_ids = {d.id for d in corpus.documents}
    for doc in corpus.documents:
        _need(doc.path, doc.line("publisher"), doc.publisher, orgs, "organization (publisher)")
        if doc.about_event is not None:
            _need(doc.path, doc.line("about_event"), doc.about_event, events, "event (about_event)")
        for cited in doc.cites:
            _need(doc.path, doc.line("cites"), cited, record_ids, "record (cites)")
        for q in doc.quotes:
            if q.speaker is not None:
                _need(doc.path, q.line, q.speaker, orgs, "organization (speaker)")
        for c in doc.claims:
            for a in c.asserts:
                if a.clause is not None:
                    _need(doc.path, a.line, a.clause, clauses, "clause")
                if a.version is not None:
                    _need(doc.path, a.line, a.version, events, "event (version)")
                    if events[a.version].kind != "version":
                        raise SourceError(
                            doc.path,
                            f'"{a.version}" is a context event, not a version of the agreement. Name a version event',
                            line=a.line,
                        )
                if a.holder is not None:
                    _need(doc.path, a.line, a.holder, orgs, "organization (holder)")
                if a.topic is not None:
                    _need(doc.path, a.line, a.topic, topics, "topic")


def _need(path: Path, line: int, ref: str, known: Iterable[str], what: str) -> None:
    names = set(known)
    if ref not in names:
        hint = ", ".join(sorted(names)[:8]) or "none defined"
        more = ", …" if len(names) > 8 else ""
        raise SourceError(path, f'unknown {what} "{ref}". Use one of: {hint}{more}', line=line)


if __name__ == "__main__":  # python -m kg.records: write kg/record_checks.py after editing the schema
    Path(__file__).with_name(CHECKS_MODULE).write_text(checks_code(), encoding="utf-8")
