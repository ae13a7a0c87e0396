"""SHACL shapes compiled to SPARQL and run by Oxigraph: the validator of every build.

Each constraint of each targeted shape becomes one SELECT that returns the focus nodes (and
value nodes) that violate it, so the dataset is checked in one query per constraint on
Oxigraph's engine, instead of pySHACL evaluating every constraint once per focus node over an
rdflib graph (three quarters of a build's time before this module; see BENCHMARKS.md).

It covers SHACL Core as our shapes and most hand-written shapes use it: class, node and
property-path targets; minCount, maxCount, class, datatype, nodeKind, in, hasValue, minLength,
maxLength, pattern, the four range constraints, lessThan, lessThanOrEquals, equals, disjoint;
node, not, and, or, xone (nested shapes become EXISTS tests); SPARQL-based constraints on
targeted shapes. A shape using anything else (sh:closed, sh:qualifiedValueShape, sh:uniqueLang,
SPARQL targets...) raises :class:`UnsupportedShapeError`, and :mod:`kg.validate` then runs
pySHACL, which is also the reference these queries are tested against (tests/test_shacl.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from kg.errors import KgError
from kg.model import Term
from kg.prefixes import PREFIXES

SH = "http://www.w3.org/ns/shacl#"
RDF = PREFIXES["rdf"]
RDFS = PREFIXES["rdfs"]
XSD = PREFIXES["xsd"]
VIOLATION = SH + "Violation"
# Datatypes whose lexical form Oxigraph can check by casting: an ill-typed value violates sh:datatype.
CASTABLE = {XSD + t for t in ("boolean", "integer", "decimal", "float", "double", "date", "dateTime", "time")}
MAX_COUNT_BY_JOIN = 4  # min/maxCount up to this many become joins of distinct values
TARGETS = {SH + t for t in ("targetClass", "targetNode", "targetSubjectsOf", "targetObjectsOf")}
CLASS_TYPES = {RDFS + "Class", PREFIXES["owl"] + "Class"}  # a shape that is also a class targets its instances
# Parameters that describe a shape without constraining anything.
PASSIVE = {SH + t for t in ("message", "severity", "deactivated", "name", "description", "order", "group",
                            "defaultValue", "flags", "declare", "prefixes", "path")}
PASSIVE |= TARGETS | {RDF + "type", RDFS + "label", RDFS + "comment"}


class UnsupportedShapeError(KgError):
    """The shapes use a SHACL feature this compiler does not translate (pySHACL runs them instead)."""


@dataclass(frozen=True)
class Check:
    """One constraint of one targeted shape, as a query for the nodes that violate it.

    The query selects ?this and, when the constraint has value nodes, ?value (and ?path for a
    SPARQL constraint that names one).
    """

    query: str
    path: str
    message: str
    severity: str


@dataclass(frozen=True)
class Shapes:
    """The checks of a shapes file, and whether each part of a dataset can be checked on its own.

    local is true when every target is by class and every path goes forward, so that a node's
    violations depend only on what it points to (kg.incremental validates per record then).
    """

    checks: list[Check]
    local: bool


@dataclass(frozen=True)
class _Found:
    """A violation pattern: it binds value (a variable, or the focus itself) when it matches."""

    values: str  # binds the value nodes from the focus ("" when the test needs none, or for a node shape)
    test: str  # matches when the constraint is violated
    value: str | None
    path: str
    message: str | None
    severity: str
    default: str
    prefixes: str = ""
    selects_path: bool = False


class ShapesGraph:
    """The triples of a shapes file, indexed by subject."""

    def __init__(self, triples: list[tuple[Term, Term, Term]]) -> None:
        self.by_subject: dict[Term, dict[str, list[Term]]] = {}
        for s, p, o in triples:
            self.by_subject.setdefault(s, {}).setdefault(p.value, []).append(o)

    def objects(self, node: Term, predicate: str) -> list[Term]:
        return sorted(self.by_subject.get(node, {}).get(predicate, []), key=lambda t: (t.kind, t.value))

    def value(self, node: Term, predicate: str) -> Term | None:
        found = self.objects(node, predicate)
        return found[0] if found else None

    def items(self, head: Term) -> list[Term]:
        """The members of an RDF list."""
        out: list[Term] = []
        while not (head.kind == "uri" and head.value == RDF + "nil"):
            first = self.value(head, RDF + "first")
            rest = self.value(head, RDF + "rest")
            if first is None or rest is None or len(out) > 10_000:
                raise UnsupportedShapeError(f"a malformed RDF list at {head.value} in the shapes")
            out.append(first)
            head = rest
        return out

    def types(self, node: Term) -> set[str]:
        return {t.value for t in self.objects(node, RDF + "type")}

    def subjects_with(self, predicate: str) -> list[Term]:
        return sorted((s for s, po in self.by_subject.items() if predicate in po), key=lambda t: (t.kind, t.value))


def sparql_term(term: Term) -> str:
    """A term as SPARQL syntax.

    >>> sparql_term(Term("literal", "2026-04-27", "http://www.w3.org/2001/XMLSchema#date"))
    '"2026-04-27"^^<http://www.w3.org/2001/XMLSchema#date>'
    """
    if term.kind == "uri":
        return f"<{term.value}>"
    if term.kind == "bnode":
        raise UnsupportedShapeError("a blank node as a value in a shape")
    text = (term.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r"))
    if term.language:
        return f'"{text}"@{term.language}'
    return f'"{text}"^^<{term.datatype or XSD + "string"}>'


def short(value: str) -> str:
    """An IRI with one of our prefixes, for messages.

    >>> short("https://schema.org/publisher")
    'schema:publisher'
    """
    for prefix, namespace in PREFIXES.items():
        if value.startswith(namespace) and re.fullmatch(r"[\w.-]*", value[len(namespace):]):
            return prefix + ":" + value[len(namespace):]
    return value


class _Compiler:
    def __init__(self, graph: ShapesGraph) -> None:
        self.g = graph
        self.counter = 0
        self.nesting: list[Term] = []
        self.local = True

    def var(self, stem: str) -> str:
        self.counter += 1
        return f"?{stem}{self.counter}"

    # ---- paths ------------------------------------------------------------------------------

    def path(self, node: Term) -> str:
        """A SHACL property path as a SPARQL property path."""
        if node.kind == "uri":
            return f"<{node.value}>"
        if self.g.value(node, RDF + "first") is not None:
            return "(" + "/".join(self.path(n) for n in self.g.items(node)) + ")"
        for key, template in (("inversePath", "^{}"), ("zeroOrMorePath", "{}*"), ("oneOrMorePath", "{}+"),
                              ("zeroOrOnePath", "{}?")):
            inner = self.g.value(node, SH + key)
            if inner is not None:
                if key == "inversePath":
                    self.local = False
                return "(" + template.format(self.path(inner)) + ")"
        alternatives = self.g.value(node, SH + "alternativePath")
        if alternatives is not None:
            return "(" + "|".join(self.path(n) for n in self.g.items(alternatives)) + ")"
        raise UnsupportedShapeError(f"a property path this validator does not know ({node.value})")

    def path_text(self, node: Term) -> str:
        return node.value if node.kind == "uri" else self.path(node)

    # ---- targets ----------------------------------------------------------------------------

    def targets(self, shape: Term) -> str | None:
        """The pattern that binds ?this to the shape's focus nodes; None for an untargeted shape."""
        branches = []
        classes = self.g.objects(shape, SH + "targetClass")
        if CLASS_TYPES & self.g.types(shape):
            classes.append(shape)  # an implicit class target
        for cls in classes:
            branches.append(f"?this <{RDF}type>/<{RDFS}subClassOf>* {sparql_term(cls)} .")
        for node in self.g.objects(shape, SH + "targetNode"):
            self.local = False
            branches.append(f"VALUES ?this {{ {sparql_term(node)} }}")
        for prop in self.g.objects(shape, SH + "targetSubjectsOf"):
            self.local = False
            branches.append(f"?this {sparql_term(prop)} [] .")
        for prop in self.g.objects(shape, SH + "targetObjectsOf"):
            self.local = False
            branches.append(f"[] {sparql_term(prop)} ?this .")
        if self.g.objects(shape, SH + "target"):
            raise UnsupportedShapeError(f"SPARQL-based targets (sh:target) on {shape.value}")
        if not branches:
            return None
        return " UNION ".join("{ " + b + " }" for b in branches)

    # ---- constraints ------------------------------------------------------------------------

    def message(self, node: Term) -> str | None:
        messages = self.g.objects(node, SH + "message")
        messages.sort(key=lambda t: (t.language not in (None, "", "en"), t.language or ""))
        return messages[0].value if messages else None

    def severity(self, shape: Term) -> str:
        found = self.g.value(shape, SH + "severity")
        return found.value if found is not None else VIOLATION

    def constraints(self, shape: Term, focus: str) -> Iterator[_Found]:
        """Every violation pattern of a shape for the focus (a variable or a SPARQL term)."""
        if shape in self.nesting:
            raise UnsupportedShapeError(f"recursive shapes ({shape.value})")
        deactivated = self.g.value(shape, SH + "deactivated")
        if deactivated is not None and deactivated.value == "true":
            return
        known = PASSIVE | {SH + p for p in CONSTRAINTS} | {SH + "property", SH + "sparql"}
        for predicate in self.g.by_subject.get(shape, {}):
            if predicate.startswith(SH) and predicate not in known:
                raise UnsupportedShapeError(f"{short(predicate)} (on {shape.value})")
        self.nesting.append(shape)
        try:
            yield from self._constraints(shape, focus)
        finally:
            self.nesting.pop()

    def _constraints(self, shape: Term, focus: str) -> Iterator[_Found]:
        path_node = self.g.value(shape, SH + "path")
        message, severity = self.message(shape), self.severity(shape)
        if path_node is None:
            values, value, path, path_label = "", focus, None, ""
        else:
            path = self.path(path_node)
            value = self.var("v")
            values = f"{focus} {path} {value} ."
            path_label = self.path_text(path_node)
        for name in CONSTRAINTS:
            for parameter in self.g.objects(shape, SH + name):
                for own_values, test, has_value, default in self.constraint(name, parameter, shape, focus, path,
                                                                            values, value):
                    yield _Found(own_values, test, value if has_value else None, path_label, message, severity,
                                 default)
        for nested in self.g.objects(shape, SH + "property"):
            for found in self.constraints(nested, value):
                yield replace(found, values=f"{values} {found.values}".strip())
        for sparql in self.g.objects(shape, SH + "sparql"):
            yield self.sparql(shape, sparql, focus, path_label, severity, message)

    def constraint(self, name: str, p: Term, shape: Term, focus: str, path: str | None, values: str,
                   v: str) -> Iterator[tuple[str, str, bool, str]]:
        """(values pattern, test pattern, whether it binds the value node, default message) for one parameter."""
        on = ("{$this}" if focus == "?this" else "a value node") + "->" + (short(path.strip("<>")) if path else "")
        if name in ("minCount", "maxCount"):
            if path is None:
                raise UnsupportedShapeError(f"sh:{name} on a node shape ({shape.value})")
            n = int(p.value)
            if name == "minCount" and n > 0:
                yield "", self.count_test(focus, path, "<", n), False, f"Less than {n} values on {on}"
            elif name == "maxCount":
                yield "", self.count_test(focus, path, ">", n), False, f"More than {n} values on {on}"
            return
        if name == "hasValue":
            if path is None:
                yield "", f"FILTER (!sameTerm({focus}, {sparql_term(p)}))", False, f"Node is not {sparql_term(p)}"
            else:
                yield "", f"FILTER NOT EXISTS {{ {focus} {path} {sparql_term(p)} }}", False, \
                    f"Node {on} does not contain value {sparql_term(p)}"
            return
        if name in ("lessThan", "lessThanOrEquals"):
            other = self.var("o")
            op = "<" if name == "lessThan" else "<="
            yield values, f"{focus} {sparql_term(p)} {other} . FILTER (!COALESCE({v} {op} {other}, false))", True, \
                f"Value is not {op} value of {short(p.value)}"
            return
        if name == "equals":
            yield "", f"{{ {values} FILTER NOT EXISTS {{ {focus} {sparql_term(p)} {v} }} }} UNION " \
                      f"{{ {focus} {sparql_term(p)} {v} . FILTER NOT EXISTS {{ {values} }} }}", True, \
                f"Value is not in {short(p.value)}"
            return
        if name == "disjoint":
            yield values, f"{focus} {sparql_term(p)} {v} .", True, f"Value is also a value of {short(p.value)}"
            return
        test, default = self.value_test(name, p, shape, v)
        if name == "class" and values:
            # values binds v, so MINUS removes the same solutions; Oxigraph 0.5 runs it several times
            # faster than a NOT EXISTS over the type path, which it evaluates again for every value
            yield values, f"MINUS {{ {v} <{RDF}type>/<{RDFS}subClassOf>* {sparql_term(p)} }}", True, default
            return
        yield values, f"FILTER ({test})", True, default

    def count_test(self, focus: str, path: str, op: str, n: int) -> str:
        """A pattern that matches when the focus has fewer (op "<") or more (">") than n distinct values."""
        if op == "<" and n == 1:
            return f"FILTER NOT EXISTS {{ {focus} {path} {self.var('x')} }}"
        if focus == "?this":
            # the union of the graphs repeats a triple once per graph that holds it: count distinct values
            x, count = self.var("x"), self.var("count")
            group = f"{{ SELECT ?this (COUNT(DISTINCT {x}) AS {count}) WHERE {{ ?this {path} {x} }} GROUP BY ?this }}"
            if op == ">":
                return f"{group} FILTER ({count} > {n})"
            return f"OPTIONAL {group} FILTER (COALESCE({count}, 0) < {n})"
        if op == ">":
            return self.distinct_values(focus, path, n + 1)
        return f"FILTER NOT EXISTS {{ {self.distinct_values(focus, path, n)} }}"

    def distinct_values(self, focus: str, path: str, n: int) -> str:
        """A pattern that matches when the focus has at least n distinct values on the path."""
        if n > MAX_COUNT_BY_JOIN:
            raise UnsupportedShapeError(f"a count constraint above {MAX_COUNT_BY_JOIN - 1}")
        names = [self.var("n") for _ in range(n)]
        triples = " ".join(f"{focus} {path} {x} ." for x in names)
        apart = [f"!sameTerm({a}, {b})" for i, a in enumerate(names) for b in names[i + 1:]]
        return triples + (f" FILTER ({' && '.join(apart)})" if apart else "")

    def value_test(self, name: str, p: Term, shape: Term, v: str) -> tuple[str, str]:
        """A SPARQL expression that is true when the value node v violates the constraint."""
        if name == "class":
            return f"NOT EXISTS {{ {v} <{RDF}type>/<{RDFS}subClassOf>* {sparql_term(p)} }}", \
                f"Value does not have class {short(p.value)}"
        if name == "datatype":
            test = f"!isLiteral({v}) || datatype({v}) != {sparql_term(p)}"
            if p.value in CASTABLE:
                test += f' || sameTerm(COALESCE({sparql_term(p)}(str({v})), "ill-typed"), "ill-typed")'
            return test, f"Value is not a literal with datatype {short(p.value)}"
        if name == "nodeKind":
            kinds = {"IRI": "isIRI({v})", "BlankNode": "isBlank({v})", "Literal": "isLiteral({v})",
                     "BlankNodeOrIRI": "!isLiteral({v})", "BlankNodeOrLiteral": "!isIRI({v})",
                     "IRIOrLiteral": "!isBlank({v})"}
            kind = p.value.removeprefix(SH)
            if kind not in kinds:
                raise UnsupportedShapeError(f"sh:nodeKind {p.value}")
            return "!(" + kinds[kind].format(v=v) + ")", f"Value is not of node kind sh:{kind}"
        if name == "in":
            members = self.g.items(p)
            same = " || ".join(f"sameTerm({v}, {sparql_term(m)})" for m in members) or "false"
            return f"!({same})", "Value is not in " + ", ".join(sparql_term(m) for m in members)
        if name in ("minLength", "maxLength"):
            op = ">=" if name == "minLength" else "<="
            return f"isBlank({v}) || !(STRLEN(STR({v})) {op} {int(p.value)})", f"String length not {op} {p.value}"
        if name == "pattern":
            flags = self.g.value(shape, SH + "flags")
            args = sparql_term(Term("literal", p.value)) + (f", {sparql_term(flags)}" if flags else "")
            return f"isBlank({v}) || !REGEX(STR({v}), {args})", f"Value does not match pattern {p.value!r}"
        ranges = {"minInclusive": ">=", "maxInclusive": "<=", "minExclusive": ">", "maxExclusive": "<"}
        if name in ranges:
            return f"!COALESCE({v} {ranges[name]} {sparql_term(p)}, false)", f"Value is not {ranges[name]} {p.value}"
        if name == "node":
            said = [m for nested in [p, *self.g.objects(p, SH + "property")] if (m := self.message(nested))]
            return f"!({self.conforms(p, v)})", f"Value does not conform to shape {short(p.value)}" + \
                (": " + "; ".join(said) if said else "")
        if name == "not":
            return self.conforms(p, v), f"Value conforms to shape {short(p.value)}, which it must not"
        shapes = [self.conforms(s, v) for s in self.g.items(p)]
        if name == "and":
            return "!(" + " && ".join(shapes or ["true"]) + ")", "Value does not conform to every shape of sh:and"
        if name == "or":
            return "!(" + " || ".join(shapes or ["false"]) + ")", "Value conforms to no shape of sh:or"
        count = " + ".join(f"IF({s}, 1, 0)" for s in shapes) or "0"
        return f"({count}) != 1", "Value does not conform to exactly one shape of sh:xone"

    def conforms(self, shape: Term, node: str) -> str:
        """A SPARQL expression that is true when node conforms to the shape."""
        if self.g.objects(shape, SH + "sparql"):
            raise UnsupportedShapeError(f"a SPARQL constraint in a nested shape ({shape.value})")
        # a node conforms when the shape gives no result at all, whatever its severity (SHACL 2.3.2)
        tests = [f"NOT EXISTS {{ {found.values} {found.test} }}" for found in self.constraints(shape, node)]
        return "(" + " && ".join(tests) + ")" if tests else "true"

    def sparql(self, shape: Term, constraint: Term, focus: str, path: str, severity: str,
               message: str | None) -> _Found:
        """A SPARQL-based constraint: its SELECT, joined on ?this with the shape's targets."""
        select = self.g.value(constraint, SH + "select")
        if focus != "?this" or select is None:
            raise UnsupportedShapeError(f"a SPARQL constraint in a nested shape, or without sh:select ({shape.value})")
        text = select.value
        if re.search(r"\$(currentShape|shapesGraph|PATH)\b", text):
            raise UnsupportedShapeError(f"a SPARQL constraint that needs $currentShape, $shapesGraph or $PATH "
                                        f"pre-bound ({shape.value})")
        if "^" in text:
            self.local = False  # it may look backwards
        prefixes = []
        for ontology in self.g.objects(constraint, SH + "prefixes"):
            for declaration in self.g.objects(ontology, SH + "declare"):
                prefix = self.g.value(declaration, SH + "prefix")
                namespace = self.g.value(declaration, SH + "namespace")
                if prefix is not None and namespace is not None:
                    prefixes.append(f"PREFIX {prefix.value}: <{namespace.value}>")
        projection = set(re.findall(r"[?$](\w+)", text.split("{", 1)[0]))
        return _Found("", "{ " + text.replace("$this", "?this") + " }", "?value" if "value" in projection else None,
                      path, self.message(constraint) or message, severity, "SPARQL constraint violated on {$this}",
                      prefixes="\n".join(prefixes), selects_path="path" in projection)

    # ---- the checks -------------------------------------------------------------------------

    def shapes(self) -> Shapes:
        targeted = {s for t in TARGETS for s in self.g.subjects_with(t)}
        targeted |= {s for s in self.g.subjects_with(RDF + "type")
                     if CLASS_TYPES & self.g.types(s) and {SH + "NodeShape", SH + "PropertyShape"} & self.g.types(s)}
        checks: list[Check] = []
        for shape in sorted(targeted, key=lambda t: (t.kind, t.value)):
            target = self.targets(shape)
            if target is None:
                continue
            for found in self.constraints(shape, "?this"):
                selected = ["?this"]
                if found.value is not None and found.value != "?this":
                    selected.append(found.value)
                if found.selects_path:
                    selected.append("?path")
                # distinct focus (and value) nodes first: the union of the graphs repeats a triple per graph
                inner = ["?this", found.value] if found.values and found.value not in (None, "?this") else ["?this"]
                nodes = f"{{ SELECT DISTINCT {' '.join(inner)} WHERE {{ {target} {found.values} }} }}"
                query = f"SELECT DISTINCT {' '.join(selected)} WHERE {{ {nodes} {found.test} }}"
                checks.append(Check(f"{found.prefixes}\n{query}".strip(), found.path, found.message or found.default,
                                    found.severity))
        return Shapes(checks, self.local)


# The constraint parameters compiled, in the order their checks are made.
CONSTRAINTS = ("minCount", "maxCount", "class", "datatype", "nodeKind", "in", "hasValue", "minLength", "maxLength",
               "pattern", "minInclusive", "maxInclusive", "minExclusive", "maxExclusive", "lessThan",
               "lessThanOrEquals", "equals", "disjoint", "node", "not", "and", "or", "xone")


def compile_shapes(shapes: Path) -> Shapes:
    """The checks of a shapes file (Turtle).

    Raises:
        UnsupportedShapeError: the shapes use a feature not compiled here.
        KgError: the file is not valid Turtle (naming its line).
    """
    from kg.store import Store

    graph = Store.in_memory(shapes.read_text(encoding="utf-8"), fmt="turtle", source=shapes)
    rows = graph.query("SELECT ?s ?p ?o WHERE { ?s ?p ?o }").terms
    return _Compiler(ShapesGraph([(s, p, o) for s, p, o in rows])).shapes()  # type: ignore[misc]
