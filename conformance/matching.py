"""Pure functions over bytes that the session and the verifiers share.

``find_printed`` answers "does this payload appear on the server's stdout?" for servers
that print each received chunk as it arrives, as the textbook does with
``printf("%s\\n", buf)``.  The payload may therefore appear cut into runs (one per
recv()), each run contiguous, in order and ending at a line break, the runs separated
by other output (a prefix such as ``recv ``, other clients' chunks, log lines) that
contains a line break.  Payloads use per-connection alphabets, so the output of another
client cannot be mistaken for this one's.
"""

from __future__ import annotations

_PROBES = (64, 16, 4, 1)


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


def _next_run(hay: bytes | bytearray, needle: bytes, j: int, lo: int,
              hi: int) -> tuple[int, int]:
    """(position, length) of the run of needle[j:] that continues the match in
    hay[lo:hi]: the leftmost one that is a whole printed chunk -- it ends at a line
    break, at the end of the output, or at the end of the needle.  A run that stops in
    the middle of a line (a letter of a ``recv `` prefix, say) is never a chunk."""
    q = hay.find(needle[j: j + 1], lo, hi)
    while q >= 0:
        n = _lcp(hay, q, needle, j)
        end = q + n
        if end == len(hay) or hay[end] == 0x0A or j + n == len(needle):
            return q, n
        q = hay.find(needle[j: j + 1], q + 1, hi)
    return -1, 0


def _follow(hay: bytes | bytearray, needle: bytes, at: int, max_gap: int) -> tuple[int, int]:
    """Greedy match of the whole needle as runs starting at ``at``."""
    j, n = 0, _lcp(hay, at, needle, 0)
    while True:
        j, at = j + n, at + n
        if j == len(needle):
            return j, at
        # The next run starts after a line break, within max_gap bytes: other clients'
        # chunks (other alphabets) and log lines may come in between.
        nl = hay.find(b"\n", at, at + max_gap)
        if nl < 0:
            return j, at
        q, n = _next_run(hay, needle, j, nl + 1, at + max_gap + 1)
        if q < 0:
            return j, at
        at = q


def find_printed(hay: bytes | bytearray, needle: bytes, start: int = 0,
                 max_gap: int = 8 << 10, anchors: int = 256) -> tuple[int, int]:
    """(bytes of ``needle`` found in order, position in ``hay`` just after them).

    The needle was printed whole when the first number equals ``len(needle)``.  Start
    positions are tried longest exact prefix first, at most ``anchors`` of each size."""
    best = (0, start)
    if not needle:
        return best
    for size in sorted({min(size, len(needle)) for size in _PROBES}, reverse=True):
        probe = needle[:size]
        q = hay.find(probe, start)
        for _ in range(anchors):
            if q < 0:
                break
            found = _follow(hay, needle, q, max_gap)
            if found[0] == len(needle):
                return found
            best = max(best, found, key=lambda f: f[0])
            q = hay.find(probe, q + 1)
    return best


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
