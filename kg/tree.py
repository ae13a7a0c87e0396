"""Render trace and audit data (plain dicts) as a readable text tree."""

from __future__ import annotations

from typing import Any

from kg.matching import bare, is_qualifier

Node = dict[str, Any]
Branch = tuple[list[str], list["Branch"]]


def _date(src: Node) -> str:
    if not src.get("published"):
        return "date unknown"
    basis = f", {src['date_basis']}" if src.get("date_basis") and src["date_basis"] != "stated" else ""
    return f"{src['published']}{basis}"


def source_lines(src: Node) -> list[str]:
    headline = f"\u201c{src['headline']}\u201d" if src.get("headline") else "(headline unknown)"
    lines = [f"source {src['id']}: {headline} \u2014 {src.get('outlet') or 'outlet unknown'}, {_date(src)}"]
    lines.append(f"  own page: {src['url']}" if src.get("url") else "  own page: not found")
    for copy in src.get("copies", []):
        if copy.get("kind") != "own-page":
            lines.append(f"  seen at: {copy.get('url') or copy.get('ref')} ({copy['kind']})")
    if not src.get("text_found", True):
        lines.append("  text: no copy of the text could be read")
    if src.get("event"):
        ev = src["event"]
        lines.append(f"  about: {ev['label']} ({ev.get('date') or 'date unknown'})")
    return lines


def assertion_line(a: Node) -> str:
    if "topic" in a:
        return f"asserts: {a['topic_label']}"
    version = a.get("version") or {}
    terms = ", ".join(
        f"{k} {a[k]}" for k in ("holder", "rate", "until", "capped", "cap", "amount", "condition") if k in a
    )
    extra = f" ({terms})" if terms else ""
    return f"asserts: {a['clause_label']} is {a['status']}{extra} in {version.get('label')} ({version.get('date')})"


def quote_branch(q: Node, role: str | None = None, *, within: str | None = None) -> Branch:
    """A quote, its source (unless it is the source `within` shown above) and its computed origin."""
    head = f"{role + ' ' if role else ''}quote {q['id']}: \u201c{q['text']}\u201d"
    lines = [head]
    if q.get("speaker"):
        lines.append(f"  speaker: {q['speaker']}")
    children: list[Branch] = [] if q["source"]["id"] == within else [(source_lines(q["source"]), [])]
    origin = q.get("origin")
    if origin is not None:
        if origin["kind"] == "none":
            children.append((["origin: no source found among the recorded passages"], []))
        else:
            o_lines = [f"origin: {origin['kind']} match (score {origin['score']})"]
            for dropped in origin.get("dropped", []):
                label = "dropped qualifier" if is_qualifier(dropped) else "dropped"
                o_lines.append(f"  {label}: \u201c{bare(dropped)}\u201d")
            children.append((o_lines, [quote_branch(origin["quote"])] if origin.get("quote") else []))
    return lines, children


def claim_branch(c: Node) -> Branch:
    where = f" \u00b7 {c['file']}:{c['line']}" if c.get("file") else ""
    lines = [f"claim {c['id']} [{c['kind']}]{where}", f"  \u201c{c['text']}\u201d"]
    lines += [f"  {assertion_line(a)}" for a in c.get("asserts", [])]
    children: list[Branch] = [(source_lines(c["source"]), [])]
    children += [quote_branch(e["quote"], e["role"], within=c["source"]["id"]) for e in c.get("evidence", [])]
    if not c.get("evidence"):
        children.append((["evidence: the claim cites no quote"], []))
    return lines, children


def render(branch: Branch, prefix: str = "", last: bool = True, top: bool = True) -> list[str]:
    lines, children = branch
    out: list[str] = []
    joint = "" if top else ("\u2514\u2500 " if last else "\u251c\u2500 ")
    cont = "" if top else ("   " if last else "\u2502  ")
    out.append(prefix + joint + lines[0])
    for line in lines[1:]:
        out.append(prefix + cont + line)
    for i, child in enumerate(children):
        out += render(child, prefix + cont, i == len(children) - 1, top=False)
    return out


def render_trace(tree: Node) -> str:
    if "claim" in tree:
        return "\n".join(render(claim_branch(tree["claim"]))) + "\n"
    if "quote" in tree:
        return "\n".join(render(quote_branch(tree["quote"]))) + "\n"
    src = tree["source"]
    items: list[Branch] = [
        (
            [
                f"{s['role']} claim {s['claim']['id']} [{s['claim']['kind']}] via quote {s['via_quote']}",
                f"  \u201c{s['claim']['text']}\u201d",
            ],
            [],
        )
        for s in tree["supports"]
    ] or [(["supports no claim"], [])]
    return "\n".join(render((source_lines(src), items))) + "\n"


def render_audit(report: Node) -> str:
    """Summary line first, then each claim with its verdicts and the evidence for each."""
    out = [report["summary_line"], ""]
    for c in report["claims"]:
        verdicts: list[Branch] = []
        for v in c["verdicts"]:
            evidence: list[Branch] = []
            for e in v["evidence"]:
                bits = [e["kind"], e["id"]]
                if e.get("outlet"):
                    bits.append(f"({e['outlet']})")
                if e.get("text"):
                    bits.append(f"\u201c{e['text']}\u201d")
                if e.get("date"):
                    bits.append(e["date"])
                if e.get("own_page"):
                    bits.append("[own page]")
                evidence.append(([" ".join(bits)], []))
            verdicts.append(([f"{v['label']}: {v['explanation']}"], evidence))
        head = [
            f"claim {c['id']} [{c['kind']}] \u2014 {c['independent_outlets']} independent outlet(s)",
            f"  \u201c{c['text']}\u201d",
        ]
        out += render((head, verdicts))
        out.append("")
    return "\n".join(out)
