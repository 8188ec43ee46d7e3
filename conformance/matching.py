"""Pure functions over bytes that the session and the verifiers share.

``find_printed`` answers "does this payload appear on the server's stdout?" the way a
person reading the output would.  A server prints each received chunk as it arrives:
the textbook's ``printf("%s\\n", buf)``, or with other text around it on its line,
``printf("fd %d: %s (%d bytes)\\n", ...)``, Python's ``print(f"echoing {data}")``.  So
the payload appears cut into runs, one per recv(), in order, each on a line of its own,
separated by other output (the rest of the line, other clients' chunks, log lines).

What keeps a person from reading a chunk into text that merely contains its letters:

- A run either reaches the end of its line (the textbook's shape; a prefix glued to it
  is fine), or stands apart from the text around it as a word does: the bytes on either
  side are not letters or digits (``fd 5: abc (3 bytes)``, ``b'abc'``, ``[abc]``; an
  ANSI colour code before it counts as such a byte).  The ``v`` of a ``recv `` prefix
  is never a chunk.
- One line holds one chunk.  Of the runs a line offers, the one at the column where the
  connection's first chunk stood is taken (servers print every chunk after the same
  prefix), else the longest: the ``25`` of ``fd 25: 2 (1 bytes)`` is not the chunk.
- Of the lines that offer a run, the first with a convincing one (at the column, or 4
  bytes or more) is tried first; a choice that leads nowhere is undone (a bounded
  number of times): a lone digit of a log line may continue the payload by chance.
- Payloads use per-connection alphabets, so the output of another client cannot be
  mistaken for this one's, and fewer than ``MIN_FOUND`` bytes found (unless that is the
  whole payload) count as nothing found: one letter of a log line is a coincidence.

Chunks printed without any line break count only when they are contiguous (printed and
flushed one after another): with text between them and no line break, the output cannot
be told from chunks that interleave.  And stdio keeps a line without its line break in
its buffer, so such a chunk may not reach stdout at all until the next newline or
``fflush(stdout)``.
"""

from __future__ import annotations

import re
import string
from collections import deque
from collections.abc import Iterator

_PROBES = (64, 16, 4, 1)
_LF, _CR = 0x0A, 0x0D
MIN_FOUND = 8  # bytes found below which a partial match is taken for a coincidence
_BACKTRACKS = 32  # choices undone per starting point before the search gives up
_CONVINCING = 4  # a run this long is tried before shorter ones on earlier lines
_WORD = frozenset((string.ascii_letters + string.digits).encode())
_COLOUR = re.compile(rb"\x1b\[[0-9;]*m")


def _lcp(hay: bytes | bytearray, at: int, needle: bytes, j: int) -> int:
    """Length of the common prefix of hay[at:] and needle[j:], galloping so that a long
    run costs a few slice comparisons, not a Python loop per byte."""
    limit = min(len(hay) - at, len(needle) - j)
    good, step = 0, 16
    while good < limit:
        size = min(step, limit - good)
        if hay[at + good: at + good + size] != needle[j + good: j + good + size]:
            lo, hi = good, good + size  # the mismatch lies in [lo, hi)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if hay[at + lo: at + mid] == needle[j + lo: j + mid]:
                    lo = mid
                else:
                    hi = mid
            return lo
        good += size
        step *= 2
    return good


def _ends_line(hay: bytes | bytearray, end: int) -> bool:
    """Is ``end`` the end of a line: a line break (LF or CRLF) or the end of the output?"""
    if end >= len(hay):
        return True
    b = hay[end]
    return b == _LF or (b == _CR and (end + 1 == len(hay) or hay[end + 1] == _LF))


def _after_colour(hay: bytes | bytearray, q: int) -> bool:
    """Does an ANSI colour code (``ESC [ 32 m``) end just before ``q``?  Loggers colour
    their output when stdout is a terminal, as the server's is; its final ``m`` is no
    letter of the text."""
    esc = hay.rfind(b"\x1b[", max(0, q - 16), q)
    return esc >= 0 and _COLOUR.fullmatch(hay, esc, q) is not None


class _Search:
    """One search for ``needle`` in ``hay`` from ``start``: the rules of the module
    docstring, and the column where the first chunk stood on its line.  Servers print
    every chunk of a connection after the same prefix (``fd 5: ``, ``echoing b'``), so a
    run at that column is the chunk, and a run elsewhere is tried after it."""

    def __init__(self, hay: bytes | bytearray, needle: bytes, start: int,
                 max_gap: int) -> None:
        self.hay, self.needle, self.start, self.max_gap = hay, needle, start, max_gap
        self.column = -1
        self.best = (0, start)  # the furthest any run reached, for the diagnosis

    def is_chunk(self, q: int, n: int, j: int) -> bool:
        """Can hay[q:q+n] be a printed chunk?  It can when it ends the payload or its
        line, or when it stands apart from the text on both sides as a word does."""
        hay, end = self.hay, q + n
        if j + n == len(self.needle) or _ends_line(hay, end):
            return True
        apart_before = q == self.start or hay[q - 1] not in _WORD or _after_colour(hay, q)
        return apart_before and hay[end] not in _WORD

    def _reached(self, j: int, end: int) -> None:
        if j > self.best[0]:
            self.best = (j, end)

    def in_line(self, j: int, lo: int, hi: int) -> tuple[int, int, bool]:
        """(position, length, at the column) of the chunk continuing needle[j:] that
        starts in hay[lo:hi]: the one at the column, else the longest (length 0 if there
        is none).  A run cut short by a lost byte is no chunk; the diagnosis counts it."""
        hay, needle = self.hay, self.needle
        at = lo + self.column
        # At the column and standing apart on its left, as the chunks after a prefix do
        # (a run at the column but inside a longer word is part of a wider chunk).
        if (self.column >= 0 and at < hi and hay[at] == needle[j]
                and (at == lo or hay[at - 1] not in _WORD)):
            n = _lcp(hay, at, needle, j)
            self._reached(j + n, at + n)
            if self.is_chunk(at, n, j):
                return at, n, True
        first = needle[j: j + 1]
        best_q, best_n = -1, 0
        q = hay.find(first, lo, hi)
        while q >= 0:
            n = _lcp(hay, q, needle, j)
            if n >= MIN_FOUND:  # shorter runs off the column are too likely to be chance
                self._reached(j + n, q + n)
            if n > best_n and self.is_chunk(q, n, j):
                best_q, best_n = q, n
                if q + n >= hi:
                    break  # it reaches the end of the line: nothing after it is longer
                q = hay.find(first, q + n, hi)  # a run inside this one is shorter
            else:
                q = hay.find(first, q + 1, hi)
        return best_q, best_n, False

    def following(self, j: int, at: int) -> Iterator[tuple[int, int]]:
        """The chunks that may continue needle[j:] on the lines after the one holding
        ``at``, within ``max_gap`` bytes, the most convincing first: the first one at the
        column, at least ``_CONVINCING`` bytes long or ending the payload; then the
        shorter ones before it, in order; then the rest, in order."""
        hay = self.hay
        limit = min(len(hay), at + self.max_gap + 1)
        waiting: list[tuple[int, int]] = []
        convinced = False
        nl = hay.find(b"\n", at, limit - 1)
        while nl >= 0:
            end = hay.find(b"\n", nl + 1, limit)
            q, n, aligned = self.in_line(j, nl + 1, limit if end < 0 else end)
            if n and (convinced or aligned or n >= _CONVINCING or j + n == len(self.needle)):
                yield q, n
                if not convinced:
                    convinced = True
                    yield from waiting
            elif n:
                waiting.append((q, n))
            nl = end if 0 <= end < limit - 1 else -1
        if not convinced:
            yield from waiting

    def follow(self, q: int, n: int) -> tuple[int, int]:
        """Match the rest of the needle as chunks, one per line, after the first chunk
        hay[q:q+n]: (bytes of the needle matched, position after them).

        A depth-first search: each frame is a chunk taken (needle offset and hay offset
        after it) with the chunks that may follow it; when the rest cannot be matched,
        the next of those is tried instead.  Only the last ``_BACKTRACKS`` frames are
        kept: no more choices than that are ever undone."""
        self.column = q - (self.hay.rfind(b"\n", 0, q) + 1)
        self._reached(n, q + n)
        frames: deque[tuple[int, int, Iterator[tuple[int, int]]]] = deque(
            maxlen=_BACKTRACKS + 1)
        frames.append((n, q + n, self.following(n, q + n)))
        undo = _BACKTRACKS
        while frames:
            j, at, following = frames[-1]
            if j == len(self.needle):
                return j, at
            chunk = next(following, None)
            if chunk is None:
                frames.pop()  # nothing after this chunk leads on: undo it
                undo -= 1
                if undo < 0:
                    break
                continue
            q, n = chunk
            self._reached(j + n, q + n)
            frames.append((j + n, q + n, self.following(j + n, q + n)))
        return self.best


def find_printed(hay: bytes | bytearray, needle: bytes, start: int = 0,
                 max_gap: int = 8 << 10, anchors: int = 256) -> tuple[int, int]:
    """(bytes of ``needle`` found in order, position in ``hay`` just after them).

    The needle was printed whole when the first number equals ``len(needle)``; fewer
    than ``MIN_FOUND`` bytes found are reported as none.  Start positions are tried
    longest exact prefix first, at most ``anchors`` of each size."""
    if not needle:
        return 0, start
    search = _Search(hay, needle, start, max_gap)
    tried: set[int] = set()
    for size in sorted({min(size, len(needle)) for size in _PROBES}, reverse=True):
        probe = needle[:size]
        q = hay.find(probe, start)
        for _ in range(anchors):
            if q < 0:
                break
            if q not in tried:
                tried.add(q)
                n = _lcp(hay, q, needle, 0)
                if search.is_chunk(q, n, 0):
                    found = search.follow(q, n)
                    if found[0] == len(needle):
                        return found
                else:  # cut short inside a line: no chunk, but the diagnosis counts it
                    search.best = max(search.best, (n, q + n), key=lambda f: f[0])
            q = hay.find(probe, q + 1)
    return search.best if search.best[0] >= MIN_FOUND else (0, start)


def escaped_forms(data: bytes) -> dict[str, bytes]:
    """How servers commonly print bytes other than as they are: the name of each form and
    the first bytes of ``data`` in it.  For the diagnosis only: a payload shown this way
    is not the received bytes written exactly."""
    head = data[:16]
    forms = {"hexadecimal (lower case)": head.hex().encode(),
             "hexadecimal (upper case)": head.hex().upper().encode(),
             "hexadecimal with spaces": head.hex(" ").encode(),
             "Python's repr() of bytes (escapes such as \\x00)": repr(head)[2:-1].encode()}
    return {name: form for name, form in forms.items() if form != head}


def first_difference(expected: bytes, actual: bytes) -> int | None:
    """Offset of the first differing byte, or of the end of the shorter; None if equal."""
    n = min(len(expected), len(actual))
    lo = 0
    while lo + 4096 <= n and expected[lo: lo + 4096] == actual[lo: lo + 4096]:
        lo += 4096
    for i in range(lo, n):
        if expected[i] != actual[i]:
            return i
    return None if len(expected) == len(actual) else n


def hex_context(data: bytes, offset: int, width: int = 8) -> str:
    """'… 61 62 [63] 64 …' around ``offset``; '[end]' past the end."""
    lo = max(0, offset - width)
    cells = [f"{b:02x}" for b in data[lo: offset]]
    cells.append(f"[{data[offset]:02x}]" if offset < len(data) else "[end]")
    cells += [f"{b:02x}" for b in data[offset + 1: offset + 1 + width]]
    return ("… " if lo else "") + " ".join(cells) + (" …" if offset + 1 + width < len(data) else "")


def size(n: int) -> str:
    for unit, factor in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor and n % (factor // 4) == 0:
            return f"{n / factor:g} {unit}"
    return f"{n} B" if n != 1 else "1 byte"
