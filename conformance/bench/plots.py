"""The bench's pictures, drawn from its JSON document with matplotlib (an optional extra:
``pip install 'ioconform[bench]'``).

Three figures, each as PNG and SVG: request rate against connections per implementation
(log x), bulk echo throughput bars, and memory per idle connection bars.  Error bars are
the min–max of the repetitions.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from conformance.bench.report import GENERATOR_BOUND, capped, kernel_note

MISSING = ("the plots need matplotlib, which is not installed: "
           "pip install 'ioconform[bench]' (or pip install matplotlib)")

_BASELINE_STYLE = {"asyncio-streams": ("black", "--"), "uvloop-streams": ("dimgray", ":")}


class PlotError(Exception):
    """The plots cannot be drawn (matplotlib missing)."""


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotError(MISSING) from None
    return plt


def write(doc: dict[str, Any], folder: str | Path) -> list[Path]:
    """Draw every figure into ``folder``; return the files written."""
    plt = _pyplot()
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    impls = [i for i in doc["implementations"] if i["status"] == "ok" and i["figures"]]
    written: list[Path] = []
    for name, draw in (("rate_vs_connections", _rates), ("bulk_throughput", _bulk),
                       ("memory_per_connection", _memory)):
        fig = draw(plt, impls, doc)
        if fig is None:
            continue
        for ext in ("png", "svg"):
            path = out / f"{name}.{ext}"
            fig.savefig(path, dpi=110, bbox_inches="tight")
            written.append(path)
        plt.close(fig)
    return written


def _subtitle(doc: dict[str, Any]) -> str:
    gen = doc["generator"]["kind"]
    s = doc["settings"]
    return (f"{doc['host']['cpus']} CPUs, load generator: {gen}, {s['repeat']} repetition(s) "
            f"of {s['duration']:g} s, server read buffer {s['server_bufsize']} B")


def _si(value: float, _pos: object = None) -> str:
    return f"{value / 1000:g}k" if value >= 1000 else f"{value:g}"


def _rates(plt: Any, impls: list[dict[str, Any]], doc: dict[str, Any]) -> Any:
    """Two panels sharing the y axis: the C servers, the others (Python); baselines in both."""
    from matplotlib import ticker

    conns = doc["settings"]["conns"]
    panels = [("C servers", [i for i in impls if i["name"].startswith("c-")]),
              ("Python servers", [i for i in impls if not i["name"].startswith("c-")
                                  and i["name"] not in _BASELINE_STYLE])]
    base = [i for i in impls if i["name"] in _BASELINE_STYLE]
    fig, axes = plt.subplots(1, 2, figsize=(13, 6), sharey=True)
    cmap = plt.get_cmap("tab10")
    for ax, (title, group) in zip(axes, panels, strict=True):
        for k, impl in enumerate(group + base):
            color, style = _BASELINE_STYLE.get(impl["name"], (cmap(k % 10), "-"))
            _rate_line(ax, impl, conns, color, style)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(conns, [str(n) for n in conns])
        ax.minorticks_off()
        ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(_si))
        ax.set_xlabel("concurrent connections (one 64-byte request in flight on each)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    axes[0].set_ylabel("requests per second (log scale)")
    fig.suptitle("Ping-pong request rate by I/O model (hollow marker: some connections were "
                 "never confirmed or got no reply at all)\n" + _subtitle(doc), fontsize=10)
    return fig


def _rate_line(ax: Any, impl: dict[str, Any], conns: list[int], color: Any,
               style: str) -> None:
    fig = impl["figures"]
    pts = [(n, fig[f"rate@{n}"]) for n in conns if f"rate@{n}" in fig]
    if not pts:
        return
    xs, med = [n for n, _ in pts], [f["median"] for _, f in pts]
    err = [[f["median"] - f["min"] for _, f in pts], [f["max"] - f["median"] for _, f in pts]]
    ax.errorbar(xs, med, yerr=err, label=impl["name"], color=color, linestyle=style,
                capsize=3, linewidth=1.6)
    for n, m in zip(xs, med, strict=True):
        unserved = any(fig.get(f"{k}@{n}", {}).get("median", 0)
                       for k in ("starved", "unconfirmed"))
        ax.plot([n], [m], marker="o", markersize=6, color=color,
                markerfacecolor="white" if unserved else color)


def _bars(plt: Any, impls: list[dict[str, Any]], key: str, scale: float, label: str,
          title: str, doc: dict[str, Any], *, log: bool = False,
          note: Callable[[dict[str, Any]], str] = lambda impl: "") -> Any:
    have = sorted((i for i in impls if key in i["figures"]),
                  key=lambda i: i["figures"][key]["median"])
    if not have:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.38 * len(have) + 1.6))
    med = [i["figures"][key]["median"] * scale for i in have]
    err = [[(i["figures"][key]["median"] - i["figures"][key]["min"]) * scale for i in have],
           [(i["figures"][key]["max"] - i["figures"][key]["median"]) * scale for i in have]]
    colors = [_BASELINE_STYLE.get(i["name"], ("tab:orange" if i["name"].startswith("c-")
                                              else "tab:blue", ""))[0] for i in have]
    ranged = any(e > 0 for side in err for e in side)  # one measurement: no whiskers
    ax.barh([i["name"] for i in have], med, xerr=err if ranged else None, color=colors,
            capsize=3)
    for y, (impl, v, up) in enumerate(zip(have, med, err[1], strict=True)):
        # The value goes past the whisker's end, not over it.
        ax.annotate(f"{v:,.0f}{note(impl)}", (v + up, y), xytext=(4, 0),
                    textcoords="offset points", va="center", fontsize=8)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(label)
    ax.set_title(title + "\n" + _subtitle(doc), fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    ax.margins(x=0.15)
    return fig


def _bulk_note(impl: dict[str, Any]) -> str:
    return kernel_note(impl) + (" *" if capped(impl, "bulk_mb_s") else "")


def _bulk(plt: Any, impls: list[dict[str, Any]], doc: dict[str, Any]) -> Any:
    return _bars(plt, impls, "bulk_mb_s", 1.0, "MB/s echoed (one connection, 64 KiB writes)",
                 "Bulk echo throughput (C references orange, baselines grey; in brackets "
                 "the part of the server's CPU time spent in the kernel;\n* the load "
                 f"generator was {GENERATOR_BOUND:.0%} busy or more: the figure is its "
                 "limit as much as the server's)", doc, note=_bulk_note)


def _memory(plt: Any, impls: list[dict[str, Any]], doc: dict[str, Any]) -> Any:
    kinds = {i["capacity"].get("memory", "uss") for i in impls if i["capacity"]}
    return _bars(plt, impls, "bytes_per_conn", 1.0,
                 f"bytes of server memory ({'/'.join(sorted(kinds)).upper()}) per idle "
                 "connection (log scale)", "Memory per idle connection (lower is better; "
                 "servers that held fewer than 100 are left out)", doc, log=True)
