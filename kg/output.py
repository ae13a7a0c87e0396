"""Write tabular results as table, csv, tsv, json (SPARQL 1.1 results) or nl (one object per line)."""

from __future__ import annotations

import csv
import io
import json

from kg.model import Result, Rows

FORMATS = ("table", "csv", "tsv", "json", "nl")


def _table(rows: Rows) -> str:
    from tabulate import tabulate

    if not rows.values:
        return "(no rows)\n"
    cells = [["" if v is None else v for v in row] for row in rows.values]
    return tabulate(cells, headers=rows.columns, disable_numparse=True) + "\n"


def format_rows(rows: Rows, fmt: str, *, sparql_json: str | None = None) -> str:
    """The whole output as one string, so a failure can never leave half a file written."""
    if fmt in ("csv", "tsv"):
        out = io.StringIO()
        writer = csv.writer(out, dialect="excel-tab" if fmt == "tsv" else "excel", lineterminator="\n")
        writer.writerow(rows.columns)
        writer.writerows(["" if v is None else v for v in row] for row in rows.values)
        return out.getvalue()
    if fmt == "json":
        if sparql_json is not None:
            return sparql_json
        return json.dumps(rows.dicts(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "nl":
        return "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in rows.dicts())
    return _table(rows)


def sparql_json(result: Result) -> str:
    """SPARQL 1.1 Query Results JSON for a SELECT or ASK result."""
    if result.kind == "ask":
        return json.dumps({"head": {}, "boolean": result.boolean}, indent=2) + "\n"
    bindings = []
    for row in result.terms:
        binding: dict[str, dict[str, str]] = {}
        for column, term in zip(result.columns, row, strict=True):
            if term is None:
                continue
            entry = {"type": term.kind, "value": term.value}
            if term.language:
                entry["xml:lang"] = term.language
            elif term.kind == "literal" and term.datatype and not term.datatype.endswith("#string"):
                entry["datatype"] = term.datatype
            binding[column] = entry
        bindings.append(binding)
    doc = {"head": {"vars": result.columns}, "results": {"bindings": bindings}}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
