"""The bench's report: the JSON document, and the tables drawn from it.

The JSON document is the source of everything else (tables, plots): its fields are a
stable interface.  Per implementation, ``figures`` maps each metric (see ``measure``) to
``{"median", "min", "max", "n"}`` over the repetitions, and ``ratios`` maps it to the
median divided by the baseline's median (asyncio streams).
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
from collections.abc import Callable, Sequence
from typing import Any

from conformance import __version__
from conformance.bench.session import BASELINE, CEILING, Row

Doc = dict[str, Any]
GENERATOR_BOUND = 0.9  # generator this busy: it, not the server, may have set the rate


def _generator_busy(key: str) -> str:
    """The figure that says how busy the generator was while ``key`` was measured."""
    if key == "bulk_mb_s":
        return "bulk_gen_busy"
    return key.replace("rate@", "gen_busy@") if key.startswith("rate@") else ""


def stat(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def _figures(runs: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {key: stat(values) for key, values in sorted(runs.items()) if values}


def document(rows: list[Row], *, generator: dict[str, Any], settings: dict[str, Any],
             self_loop: dict[str, list[float]], started: str, seconds: float) -> Doc:
    base = next((r for r in rows if r.name == BASELINE and r.runs), None)
    base_fig = _figures(base.runs) if base else {}
    impls = []
    for row in rows:
        figures = _figures(row.runs)
        ratios = {k: v["median"] / base_fig[k]["median"] for k, v in figures.items()
                  if k in base_fig and base_fig[k]["median"]}
        impls.append({"name": row.name, "model": row.impl.model, "role": row.role,
                      "source": row.impl.source, "command": list(row.impl.command),
                      "status": row.status, "reason": row.reason, "figures": figures,
                      "ratios": ratios, "capacity": row.capacity})
    ceiling = next((r for r in rows if r.name == CEILING and r.runs), None)
    gen = dict(generator)
    gen["self_loop"] = _figures(self_loop)
    gen["ceiling_against"] = CEILING if ceiling else None
    gen["ceiling"] = {k: v for k, v in _figures(ceiling.runs).items()
                      if k.startswith(("gen_", "rate@"))} if ceiling else {}
    return {"tool": "ioconform bench", "version": __version__, "started": started,
            "duration_s": round(seconds, 1), "baseline": BASELINE,
            "host": {"platform": platform.platform(), "python": sys.version.split()[0],
                     "cpus": os.cpu_count()},
            "settings": settings, "generator": gen, "implementations": impls}


# -- tables --------------------------------------------------------------------------------
def _si(x: float) -> str:
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:.3g}{suffix}"
    return f"{x:.3g}"


def _cell(impl: Doc, key: str, fmt: Callable[[float], str] = _si) -> str:
    f = impl["figures"].get(key)
    if f is None:
        return "–"
    text = fmt(f["median"])
    if f["n"] > 1:
        text += f" [{fmt(f['min'])}–{fmt(f['max'])}]"
    if (r := impl["ratios"].get(key)) is not None and impl["name"] != BASELINE:
        text += f" {r:.2f}×"
    return text + (" *" if capped(impl, key) else "")


def capped(impl: Doc, key: str) -> bool:
    """The generator was so busy while ``key`` was measured that it may have set the figure."""
    busy = impl["figures"].get(_generator_busy(key))
    return bool(busy) and busy["median"] >= GENERATOR_BOUND


def kernel_note(impl: Doc) -> str:
    """The kernel's part of the server's CPU time at bulk, as ' (94% kernel)'; '' if unmeasured."""
    share = impl["figures"].get("bulk_kernel_share")
    return f" ({share['median']:.0%} kernel)" if share else ""


def _bulk_cpu(impl: Doc) -> str:
    busy = impl["figures"].get("bulk_server_busy")
    return "–" if busy is None else f"{busy['median']:.0%}{kernel_note(impl)}"


def _latency(impl: Doc, conns: int) -> str:
    p50, p99 = (impl["figures"].get(f"{q}_us@{conns}") for q in ("p50", "p99"))
    if p50 is None or p99 is None:
        return "–"
    return f"{_si(p50['median'])} / {_si(p99['median'])}"


def _capacity(impl: Doc) -> list[str]:
    cap = impl["capacity"]
    if not cap:
        return ["–", "–"]
    if "error" in cap:
        return ["failed", cap["error"][:60]]
    took = f" in {cap['seconds']:.3g} s" if "seconds" in cap else ""
    held = f"{cap['held']:,}{took}" + (
        "" if cap["stopped"] == "target reached" else f" ({cap['stopped'][:48]})")
    per = cap.get("bytes_per_conn")
    return [held, f"{per:,.0f} B ({cap['memory'].upper()})" if per is not None else "–"]


def _unserved(impl: Doc, conns: int) -> str:
    u, s = (int(impl["figures"].get(f"{k}@{conns}", {}).get("median", 0))
            for k in ("unconfirmed", "starved"))
    return f"{u} / {s} of {conns}"


def tables(doc: Doc) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headers, rows) for every table of the report."""
    conns = doc["settings"]["conns"]
    ok = [i for i in doc["implementations"] if i["status"] == "ok"]
    lead = ["implementation", "model"]
    out = [
        (f"Request rate (requests/s; median [min–max]; ×{BASELINE})", lead
         + [f"{n} conn" for n in conns], [[i["name"], i["model"]]
                                          + [_cell(i, f"rate@{n}") for n in conns] for i in ok]),
        ("Latency p50 / p99 (µs)", lead + [f"{n} conn" for n in conns],
         [[i["name"], i["model"]] + [_latency(i, n) for n in conns] for i in ok]),
        (f"Server CPU per request (µs; ×{BASELINE})", lead + [f"{n} conn" for n in conns],
         [[i["name"], i["model"]] + [_cell(i, f"cpu_us@{n}") for n in conns] for i in ok]),
        (f"...of which in the kernel (µs of system time per request; ×{BASELINE})",
         lead + [f"{n} conn" for n in conns],
         [[i["name"], i["model"]] + [_cell(i, f"cpu_sys_us@{n}") for n in conns] for i in ok]),
        (f"Bulk echo and capacity (×{BASELINE})", [*lead, "bulk MB/s", "server CPU at bulk",
                                                     "idle conns held", "memory / idle conn"],
         [[i["name"], i["model"], _cell(i, "bulk_mb_s"), _bulk_cpu(i), *_capacity(i)]
          for i in ok]),
    ]
    unserved = [[i["name"], ", ".join(_unserved(i, n) for n in conns)] for i in ok
                if any(i["figures"].get(f"{k}@{n}", {}).get("median")
                       for n in conns for k in ("starved", "unconfirmed"))]
    if unserved:
        title = ("Connections never confirmed (no echo before the warm-up), and confirmed "
                 "ones that got no reply in the whole window")
        out.append((title, [lead[0], "unconfirmed / starved"], unserved))
    others = [[i["name"], i["status"], i["reason"]] for i in doc["implementations"]
              if i["status"] != "ok"]
    if others:
        out.append(("Not measured", ["implementation", "status", "reason"], others))
    return out


def generator_lines(doc: Doc) -> list[str]:
    gen = doc["generator"]
    lines = [f"load generator: {gen['description']}"]
    ceiling = gen["ceiling"]
    for n in doc["settings"]["conns"]:
        c, busy, rate = (ceiling.get(f"{k}@{n}") for k in ("gen_ceiling", "gen_busy", "rate"))
        if c and busy and rate:
            lines.append(f"  {n:>5} conn: ceiling {_si(c['median'])} req/s of generator CPU; "
                         f"against {gen['ceiling_against']} it drove {_si(rate['median'])} "
                         f"req/s ({rate['median'] / c['median']:.0%} of its ceiling, "
                         f"generator {busy['median']:.0%} busy)")
    for key, f in gen["self_loop"].items():
        lines.append(f"  self-loop (generator is also the server) {key.replace('@', ' at ')} "
                     f"conn: {_si(f['median'])} req/s")
    return lines


def render(title: str, headers: list[str], rows: list[list[str]], *,
           markdown: bool = False) -> str:
    if markdown:
        lines = [f"**{title}**", "", "| " + " | ".join(headers) + " |",
                 "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines) + "\n"
    widths = [max(len(x) for x in col) for col in zip(headers, *rows, strict=False)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [title, fmt.format(*headers), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r) for r in rows]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def console(doc: Doc, *, markdown: bool = False) -> str:
    parts = [render(t, h, r, markdown=markdown) for t, h, r in tables(doc)]
    gen = generator_lines(doc)
    if any(f["median"] >= GENERATOR_BOUND for i in doc["implementations"]
           for k, f in i["figures"].items() if k.startswith(("gen_busy@", "bulk_gen_busy"))):
        gen.append(f"* the load generator was {GENERATOR_BOUND:.0%} busy or more: that rate "
                   "may be the generator's own limit")
    head = "\n".join(gen) + "\n" + (f"bench took {doc['duration_s']:.0f} s; server read "
                                   f"buffer {doc['settings']['server_bufsize']} bytes\n")
    if unset := doc["settings"].get("server_env_unset"):
        head += f"servers ran without {', '.join(unset)} (set in this environment)\n"
    if markdown:  # the header's indented lines are console text: kept as they are
        head = "```\n" + head + "```\n"
    return head + "\n" + "\n".join(parts)
