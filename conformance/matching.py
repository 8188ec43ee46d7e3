"""Pure functions over bytes that the session and the verifiers share.

``find_printed`` answers "does this payload appear on the server's stdout?" for servers
that print each received chunk as it arrives, as the textbook does with
``printf("%s\\n", buf)``.  The payload may therefore appear cut into runs (one per
recv()), each run contiguous and in order, the runs separated by a line break and
perhaps a short prefix such as ``recv `` -- but never by a gap without a line break, and
never by more than ``max_gap`` bytes.  Payloads use per-connection alphabets, so the
output of another client cannot be mistaken for this one's.
"""

from __future__ import annotations

_PROBES = (64, 32, 16, 8, 4, 2, 1)


def _run(hay: bytes | bytearray, at: int, needle: bytes, j: int) -> int:
    """Length of the common run of hay[at:] and needle[j:]."""
    n = 0
    limit = min(len(hay) - at, len(needle) - j)
    # Compare in blocks first: payloads of a megabyte are common.
    while n + 4096 <= limit and hay[at + n: at + n + 4096] == needle[j + n: j + n + 4096]:
        n += 4096
    while n < limit and hay[at + n] == needle[j + n]:
        n += 1
    return n


def _locate(hay: bytes | bytearray, needle: bytes, j: int, lo: int, hi: int) -> int:
    """Leftmost position in hay[lo:hi] of the longest probe prefix of needle[j:]."""
    for size in _PROBES:
        size = min(size, len(needle) - j)
        q = hay.find(needle[j: j + size], lo, hi + size)
        if q >= 0:
            return q
    return -1


def find_printed(hay: bytes | bytearray, needle: bytes, start: int = 0,
                 max_gap: int = 128) -> tuple[int, int]:
    """(bytes of ``needle`` found in order, position in ``hay`` just after them).

    The needle was printed whole when the first number equals ``len(needle)``."""
    if not needle:
        return 0, start
    at = _locate(hay, needle, 0, start, len(hay))
    if at < 0:
        return 0, start
    j = 0
    while True:
        n = _run(hay, at, needle, j)
        j, at = j + n, at + n
        if j == len(needle):
            return j, at
        q = _locate(hay, needle, j, at, at + max_gap)
        if q <= at or b"\n" not in hay[at:q]:
            return j, at
        at = q


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
