"""The grade document as one self-contained HTML page, for graders.

Inline CSS and a few lines of inline JavaScript only: no external URL, font or script,
so the file works offline from ``file://`` and can be mailed or archived as is.  A
Content-Security-Policy allows no script but ours (by hash), so even text that escaped
escaping could not run.  Everything a server printed is HTML-escaped, its control
characters made visible, and long diagnoses are cut with a note.

Layout: a header (course, date, seed, sandbox, duration), the summary, a legend, the
matrix (submissions x clauses grouped by family; each cell a verdict, in colour *and* a
distinct symbol, linking to ``#d-<submission>-<clause>``), then every submission's
diagnoses.  The matrix header row is sticky; clicking "score" sorts the rows.  This page
is a stable public output, like the rest of :mod:`conformance.grading.gradebook`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from html import escape
from typing import Any

from conformance.grading.gradebook import FAILED, Doc, points, requirements, setup, summarize
from conformance.text import first_sentence, printable, truncate

DETAIL_LIMIT = 20_000  # characters of one diagnosis shown; a server may print megabytes

# verdict -> (symbol shown in the cell, word for the legend and the diagnosis heading)
VERDICTS = {"pass": ("✓", "pass"), "fail": ("✗", "FAIL"), "error": ("⚠", "harness error"),
            "non-strict": ("!", "SHOULD not met (non-strict)"),
            "xfail": ("xf", "declared limitation (xfail)"),
            "xpass": ("XP", "passed despite a declared limitation (xpass)"),
            "skip": ("s", "skipped: not checkable here"), "n/a": ("–", "does not apply")}

_CSS = """
:root{--fg:#1b1b1b;--muted:#5f6368;--line:#c9ccd1;--head:#f3f4f6;font-family:system-ui,
 "DejaVu Sans","Liberation Sans",Arial,sans-serif;color:var(--fg);font-size:14px}
body{margin:1.2em 1.5em;line-height:1.4}
h1{font-size:1.5em;margin:0 0 .3em}h2{font-size:1.2em;margin:1.6em 0 .4em;
 border-bottom:2px solid var(--line)}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1em;margin:.4em 0}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0}
.warn{color:#8a1c0c;font-weight:bold}
table{border-collapse:separate;border-spacing:0}
.stats td,.stats th{padding:.15em .8em .15em 0;text-align:left}
.legend{display:flex;flex-wrap:wrap;gap:.3em 1.2em;margin:.6em 0;padding:0;list-style:none}
.legend .v{display:inline-block;min-width:1.6em;text-align:center;margin-right:.3em}
.wrap{overflow:auto;max-height:80vh;border:1px solid var(--line)}
.matrix th,.matrix td{border-right:1px solid var(--line);border-bottom:1px solid var(--line);
 padding:0;text-align:center;white-space:nowrap}
.matrix thead th{position:sticky;background:var(--head);z-index:2}
.matrix thead tr.fam th{top:0;height:1.6em;font-size:.75em;font-weight:600}
.matrix thead tr.fam th div{width:0;min-width:100%;overflow:hidden;text-overflow:ellipsis}
.matrix thead tr.ids th{top:1.6em;font-weight:normal;font-size:.8em;vertical-align:bottom}
.matrix thead tr.ids th.cl{writing-mode:vertical-rl;transform:rotate(180deg);
 padding:.3em 0;min-width:1.9em}
.matrix th.hid{background:repeating-linear-gradient(45deg,#f3f4f6,#f3f4f6 4px,#e2e4e8 4px,
 #e2e4e8 8px)}
.matrix .name{position:sticky;left:0;background:#fff;z-index:1;text-align:left;
 padding:0 .6em;font-weight:600}
.matrix thead .name{z-index:3;background:var(--head)}
.matrix td.score,.matrix td.status{padding:0 .5em}.matrix td.score{text-align:right}
.matrix td.fs,.matrix th.fs{border-left:2px solid #80868b}
.matrix td a{display:block;padding:.25em .2em;color:inherit;text-decoration:none}
.matrix td a:hover,.matrix td a:focus{outline:2px solid #1a56db;outline-offset:-2px}
.matrix td.ng{text-align:left;padding:0 .6em;background:#fbeee0}
.matrix td.ng a{display:inline;padding:0;text-decoration:underline}
.v{font-weight:600}
.v-pass{background:#dff3e6;color:#0b5a33}.v-fail{background:#f8c9c1;color:#7a1405}
.v-error{background:#3d2a5c;color:#fff}.v-non-strict{background:#fde7ae;color:#6b4a00}
.v-xfail{background:#e6e6f5;color:#3b3b7a}.v-xpass{background:#cde2f6;color:#0a3f73}
.v-skip{background:#ececec;color:#555}.v-n\\/a{background:#fff;color:#9aa0a6;font-weight:normal}
.st-graded{color:#0b5a33}.st-bad{color:#7a1405;font-weight:bold}
button.sort{font:inherit;border:0;background:none;cursor:pointer;padding:0;text-decoration:
 underline dotted}
section.sub{margin-top:1.5em}
details{margin:.25em 0;border:1px solid var(--line);border-radius:4px}
details>summary{cursor:pointer;padding:.25em .5em;background:var(--head)}
details>summary .v{display:inline-block;min-width:1.6em;text-align:center;border-radius:3px}
details:target,div.msg:target{box-shadow:0 0 0 3px #1a56db}
pre{margin:0;padding:.5em .7em;white-space:pre-wrap;overflow-wrap:anywhere;
 font:12px/1.35 "DejaVu Sans Mono","Liberation Mono",monospace;max-height:40em;overflow:auto}
.note{color:var(--muted);font-size:.9em}
@media print{.wrap{max-height:none;overflow:visible;border:0}
 .matrix thead th,.matrix .name{position:static}button.sort{text-decoration:none}
 a{color:inherit;text-decoration:none}pre{max-height:none;overflow:visible}
 tr,details{break-inside:avoid}body{margin:0;font-size:11px}
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""

# Opens the <details> a link points to, and sorts the matrix by score.
_JS = """
function openTarget(){var id=decodeURIComponent(location.hash.slice(1));
var e=id&&document.getElementById(id);if(e&&e.tagName==='DETAILS'){e.open=true;}}
addEventListener('hashchange',openTarget);openTarget();
var sortButton=document.getElementById('sort-score'),descending=false;
if(sortButton){sortButton.addEventListener('click',function(){
var body=document.querySelector('table.matrix tbody');descending=!descending;
var rows=Array.prototype.slice.call(body.rows);rows.sort(function(a,b){
var d=Number(a.dataset.score)-Number(b.dataset.score);
return (descending?-d:d)||a.dataset.name.localeCompare(b.dataset.name);});
rows.forEach(function(r){body.appendChild(r);});
sortButton.textContent=descending?'score ▼':'score ▲';});}
"""
_JS_HASH = base64.b64encode(hashlib.sha256(_JS.encode()).digest()).decode()
CSP = (f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{_JS_HASH}'; "
       "img-src data:; base-uri 'none'; form-action 'none'")


def anchor(kind: str, *parts: str) -> str:
    """An HTML id from arbitrary names: safe characters kept, and a short hash added
    whenever anything had to change, so that two different names never collide."""
    out = []
    for p in parts:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", p)
        if safe != p:
            safe += "_" + hashlib.sha1(p.encode("utf-8", "surrogatepass")).hexdigest()[:6]
        out.append(safe)
    return "-".join([kind, *out])


def t(x: object) -> str:
    """Any text as HTML, escaped, with control characters visible."""
    return escape(printable(x), quote=True)


def _cell(verdict: str) -> str:
    return VERDICTS.get(verdict, ("?", verdict))[0]


def _header(doc: Mapping[str, Any]) -> list[str]:
    head = doc.get("ioconform", {})
    title, model, service, course = setup(doc)
    outward = int(head.get("outward_attempts") or 0)
    rows = [("course", t(course)),
            ("model / service", f"{t(model)} / {t(service)}"),
            ("started", t(head.get("started", ""))),
            ("duration", f"{float(head.get('duration_s') or 0):.1f} s with "
             f"{t(head.get('workers', '?'))} workers (shard {t(head.get('shard', '?'))})"),
            ("seed", t(head.get("seed", ""))),
            ("strict", "yes" if head.get("strict") else "no"),
            ("sandbox", t(head.get("sandbox", ""))),
            ("outward connections", f"<span class=warn>{outward} attempt(s) blocked</span>"
             if outward else "none attempted"),
            ("ioconform", f"{t(head.get('version', '?'))} on {t(head.get('platform', '?'))}, "
             f"Python {t(head.get('python', '?'))}")]
    return (["<header>", f"<h1>{t(title)}</h1>",
             "<dl class=meta>"] + [f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows]
            + ["</dl>", "</header>"])


def _summary(doc: Mapping[str, Any]) -> list[str]:
    s = doc.get("summary") or summarize(doc.get("submissions", []))
    cells = [("submissions", s.get("submissions")), ("graded", s.get("graded")),
             ("build failed", s.get("build_failed")), ("invalid", s.get("invalid")),
             ("not started", s.get("not_started")), ("errors", s.get("errors")),
             ("mean", f"{points(s.get('mean_score'))} / {points(s.get('max_score'))}"),
             ("median", f"{points(s.get('median_score'))} / {points(s.get('max_score'))}")]
    return (["<h2>Summary</h2>", "<table class=stats><tr>"]
            + [f"<th>{k}</th>" for k, _ in cells] + ["</tr><tr>"]
            + [f"<td>{t(v)}</td>" for _, v in cells] + ["</tr></table>"])


def _legend() -> list[str]:
    items = [f"<li><span class='v v-{escape(v)}'>{escape(sym)}</span>{escape(word)}</li>"
             for v, (sym, word) in VERDICTS.items()]
    items.append("<li><span class='v'>▨</span>hidden clause (not shown to students)</li>")
    return ["<ul class=legend aria-label=legend>", *items, "</ul>"]


def _matrix(doc: Mapping[str, Any]) -> list[str]:
    clauses = doc.get("clauses", [])
    fams: list[tuple[str, int]] = []
    for c in clauses:
        if fams and fams[-1][0] == c.get("family"):
            fams[-1] = (fams[-1][0], fams[-1][1] + 1)
        else:
            fams.append((c.get("family", "?"), 1))
    starts = {i for i, c in enumerate(clauses)
              if i == 0 or clauses[i - 1].get("family") != c.get("family")}
    out = ["<h2>Matrix</h2>", "<div class=wrap><table class=matrix>", "<thead><tr class=fam>",
           "<th class=name rowspan=2>submission</th><th rowspan=2>status</th>"
           "<th rowspan=2><button class=sort id=sort-score type=button "
           "title='sort by score'>score</button></th>"]
    # A family name wider than its columns is left to the tooltip: the clause IDs below
    # start with it anyway ("START-1"), and "ST…" helps no one.
    out += [f"<th class=fs colspan={n} title='{t(f)}'><div>{t(f) if len(f) <= 3 * n else ''}"
            "</div></th>" for f, n in fams]
    out.append("</tr><tr class=ids>")
    for i, c in enumerate(clauses):
        cls = ["cl"] + (["fs"] if i in starts else []) + (["hid"] if c.get("hidden") else [])
        label = t(c["clause"]) + (" ▨" if c.get("hidden") else "")
        tip = f"{c['clause']} ({c.get('level', '')}, {points(c.get('points', 0))} pt"
        tip += ", hidden)" if c.get("hidden") else ")"
        out.append(f"<th class='{' '.join(cls)}' title='{t(tip)}' scope=col>{label}</th>")
    out.append("</tr></thead><tbody>")
    for sub in doc.get("submissions", []):
        name, status = str(sub.get("name", "?")), str(sub.get("status", "?"))
        graded = status == "graded"
        score = float(sub.get("score") or 0) if graded else 0.0
        top = float(sub.get("max_score") or 0) or float(
            doc.get("summary", {}).get("max_score") or 0)
        row = [f"<tr data-name='{t(name)}' data-score='{score:g}'>",
               f"<th class=name scope=row><a href='#{anchor('s', name)}'>{t(name)}</a></th>",
               f"<td class='status {'st-graded' if graded else 'st-bad'}'>{t(status)}</td>",
               f"<td class=score>{points(score)} / {points(top)}</td>"]
        if not graded:
            row.append(f"<td class='ng fs' colspan={max(len(clauses), 1)}>not graded: "
                       f"<a href='#{anchor('m', name)}'>{t(status)}, see the message</a></td>")
        else:
            mine = {c.get("clause"): c for c in sub.get("clauses", [])}
            for i, c in enumerate(clauses):
                fs = " fs" if i in starts else ""
                r = mine.get(c["clause"])
                if r is None:
                    row.append(f"<td class='nr{fs}' title='not run'></td>")
                    continue
                v = str(r.get("verdict"))
                tip = (f"{name} {c['clause']}: {v}, {points(r.get('score', 0))} / "
                       f"{points(r.get('max_score', 0))}")
                row.append(f"<td class='v v-{t(v)}{fs}'><a href='#{anchor('d', name, c['clause'])}'"
                           f" title='{t(tip)}' aria-label='{t(tip)}'>{t(_cell(v))}</a></td>")
        out.append("".join(row) + "</tr>")
    out += ["</tbody></table></div>"]
    return out


def _diagnoses(doc: Mapping[str, Any]) -> list[str]:
    reqs = requirements(doc)
    out = ["<h2>Diagnoses</h2>"]
    for sub in doc.get("submissions", []):
        name, status = str(sub.get("name", "?")), str(sub.get("status", "?"))
        score = float(sub.get("score") or 0) if status == "graded" else 0.0
        out += [f"<section class=sub id='{anchor('s', name)}'>", f"<h2>{t(name)}: "
                f"{points(score)} / {points(sub.get('max_score') or 0)} points, {t(status)}</h2>",
                f"<p class=note>{t(sub.get('folder', ''))} · {t(sub.get('model', ''))} / "
                f"{t(sub.get('service', ''))} · {float(sub.get('duration_s') or 0):.1f} s</p>"]
        if status != "graded":
            msg = truncate(printable(sub.get("message", "")), DETAIL_LIMIT)
            out.append(f"<div class=msg id='{anchor('m', name)}'><details open><summary>"
                       f"<span class='v v-fail'>✗</span> {t(status)}</summary>"
                       f"<pre>{escape(msg)}</pre></details></div>")
        for c in sub.get("clauses", []):
            v = str(c.get("verdict"))
            detail = truncate(printable(c.get("detail", "")), DETAIL_LIMIT)
            is_open = " open" if v in FAILED or v == "xpass" else ""
            hid = " <span class=note>[hidden]</span>" if c.get("hidden") else ""
            out.append(
                f"<details id='{anchor('d', name, str(c.get('clause')))}'{is_open}><summary>"
                f"<span class='v v-{t(v)}'>{t(_cell(v))}</span> <b>{t(c.get('clause'))}</b> "
                f"({t(c.get('level', ''))}) {t(VERDICTS.get(v, ('', v))[1])}, "
                f"{points(c.get('score', 0))} / {points(c.get('max_score', 0))}{hid} · "
                f"{t(first_sentence(reqs.get(str(c.get('clause')), ''), 160))}</summary>"
                f"<pre>{escape(detail)}</pre></details>")
        out.append("</section>")
    return out


def render(doc: Doc) -> str:
    parts = ["<!DOCTYPE html>", "<html lang=en>", "<head>", "<meta charset=utf-8>",
             f"<meta http-equiv=Content-Security-Policy content=\"{CSP}\">",
             "<meta name=viewport content='width=device-width, initial-scale=1'>",
             f"<title>{t(setup(doc)[0])}</title>",
             f"<style>{_CSS}</style>", "</head>", "<body>",
             *_header(doc), *_summary(doc), "<h2>Legend</h2>", *_legend(), *_matrix(doc),
             *_diagnoses(doc), f"<script>{_JS}</script>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"
