"""Text that every output needs: what a server printed made safe for a terminal, a log,
a Markdown page or an XML file, and long text cut to fit.

The bottom of the house: it imports nothing of ioconform.  A server's output may hold any
bytes (control characters, escape sequences, bidi overrides, workflow commands), and
every report quotes it, so each output renders it through here.
"""

from __future__ import annotations

import re

# Control characters (but tab and line feed), lone surrogates (undecodable bytes) and
# bidirectional overrides (which could reorder what a reader sees) become visible ASCII
# escapes.  (Unicode's control pictures, U+2400..., are missing from common monospace
# fonts and showed as identical boxes.)
_VISIBLE: dict[int, str] = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))
                            if c not in (9, 10)}
_VISIBLE.update({c: f"\\u{c:04x}" for c in range(0xD800, 0xE000)})
_VISIBLE.update({c: f"<U+{c:04X}>" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A),
                                             0x200E, 0x200F, 0x061C)})


def printable(text: object) -> str:
    """``text`` with every control, undecodable or bidi-override character made visible."""
    return str(text).replace("\r\n", "\n").translate(_VISIBLE)


def truncate(text: str, limit: int, where: str = "the JSON grade document") -> str:
    """At most about ``limit`` characters: the head and a tail, with a note between."""
    if len(text) <= limit:
        return text
    tail = limit // 5
    head = limit - tail
    return (f"{text[:head]}\n\n[... {len(text) - head - tail:,} characters omitted here; "
            f"the full text is in {where} ...]\n\n{text[-tail:]}")


def defuse_workflow_commands(text: str) -> str:
    """GitHub Actions acts on log lines that start with ``::`` (``::add-mask::``,
    ``::stop-commands::``, ...) or ``##[`` (``##[error]``) once their leading whitespace
    is trimmed (any Unicode whitespace: .NET's TrimStart); a server's output must not, so
    such a line starts with a visible mark that is no whitespace: a middle dot."""
    return "".join(f"\u00b7 {line}" if line.lstrip().startswith(("::", "##[")) else line
                   for line in text.splitlines(keepends=True))


def first_sentence(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    m = re.match(r"(.+?[.!?])(?=\s+[A-Z(]|$)", text)
    out = m.group(1) if m else text
    return out if len(out) <= limit else out[: limit - 1].rstrip() + "…"


# -- Markdown ----------------------------------------------------------------------------
# Only what is special mid-line: this text never starts a line (a line-start "#" or "-"
# is always after a prefix of ours), and < > & are HTML-escaped.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_inline(text: object) -> str:
    """Text for a Markdown paragraph or table cell: HTML and Markdown syntax escaped."""
    s = " ".join(printable(text).split())
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", s)


def md_code(text: object) -> str:
    """An inline code span that ``text`` cannot close (nothing inside is interpreted)."""
    s = " ".join(printable(text).split())
    ticks = "`" * (max((len(r) for r in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{ticks}{pad}{s}{pad}{ticks}"


def md_fence(text: str, info: str = "text") -> str:
    """A fenced code block that ``text`` cannot close: the fence is longer than any run
    of backticks inside."""
    runs = [len(r) for r in re.findall(r"`+", text)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return f"{fence}{info}\n{text.rstrip()}\n{fence}"
