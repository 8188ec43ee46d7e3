"""The byte matching behind the PRINT and ECHO verdicts: pure functions, no server."""

from __future__ import annotations

import itertools
import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.matching import (
    MIN_FOUND,
    escaped_forms,
    find_printed,
    first_difference,
    hex_context,
    size,
)

# The three per-connection alphabets of the session: disjoint, no line break in any.
ALNUM = string.ascii_letters + string.digits
ALPHABETS = tuple(ALNUM[i::3].encode() for i in range(3))


def payload(n: int, alphabet: int = 0, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.choice(ALPHABETS[alphabet]) for _ in range(n))


def cut(data: bytes, sizes: list[int]) -> list[bytes]:
    """``data`` split into chunks of the given sizes (the last takes the rest)."""
    chunks, at = [], 0
    for n in sizes:
        chunks.append(data[at: at + n])
        at += n
    return [*chunks, data[at:]] if at < len(data) else chunks


def printed(chunks: list[bytes], prefix: bytes = b"", suffix: bytes = b"",
            end: bytes = b"\n") -> bytes:
    """What a server that prints every received chunk on a line of its own writes."""
    return b"".join(prefix + c + suffix + end for c in chunks)


def fd_printf(chunks: list[bytes], fd: int = 5) -> list[bytes]:
    """The lines of ``printf("fd %d: %s (%d bytes)\\n", fd, buf, n)``, one per chunk."""
    return [b"fd %d: %s (%d bytes)\n" % (fd, c, len(c)) for c in chunks]


NEEDLE = payload(300)


def whole(hay: bytes, needle: bytes = NEEDLE) -> bool:
    return find_printed(hay, needle)[0] == len(needle)


# -- find_printed: what counts as printed ----------------------------------------------
def test_whole_payload_on_one_line_is_found_with_its_end() -> None:
    hay = b"server started\n" + NEEDLE + b"\n"
    assert find_printed(hay, NEEDLE) == (len(NEEDLE), len(hay) - 1)


def test_chunks_separated_by_line_breaks_are_found() -> None:
    assert whole(printed(cut(NEEDLE, [255, 40])))


def test_chunks_with_a_prefix_each_are_found() -> None:
    assert whole(printed(cut(NEEDLE, [100, 100]), prefix=b"recv "))


def test_one_byte_chunks_are_found() -> None:
    assert whole(printed([bytes([b]) for b in NEEDLE]))


def test_another_connections_line_between_chunks_is_skipped() -> None:
    first, second = cut(NEEDLE, [150])
    other = payload(40, alphabet=1)
    assert whole(printed([first, other, second]))


def test_search_starts_at_the_given_offset() -> None:
    hay = printed([NEEDLE, NEEDLE])
    _, end = find_printed(hay, NEEDLE)
    assert hay[end:end + 1] == b"\n"
    assert find_printed(hay, NEEDLE, start=end) == (len(NEEDLE), len(hay) - 1)
    assert find_printed(hay, NEEDLE, start=end + 2)[0] < len(NEEDLE)  # past its first byte


def test_empty_needle_is_trivially_found_at_start() -> None:
    assert find_printed(b"abc", b"", start=2) == (0, 2)


# -- find_printed: what does not ---------------------------------------------------------
def test_a_missing_byte_is_noticed_and_counted() -> None:
    hay = printed([NEEDLE[:120] + NEEDLE[121:]])
    assert find_printed(hay, NEEDLE)[0] == 120


def test_reordered_chunks_are_not_found() -> None:
    a, b, c = cut(NEEDLE, [100, 100])
    assert not whole(printed([a, c, b]))


def test_a_gap_without_a_line_break_is_not_allowed() -> None:
    a, b = cut(NEEDLE, [150])
    assert not whole(a + b"#" + b + b"\n")


def test_another_connections_bytes_inside_a_chunk_are_not_skipped() -> None:
    a, b = cut(NEEDLE, [150])
    assert not whole(a + payload(5, alphabet=2) + b + b"\n")


def test_a_gap_longer_than_max_gap_breaks_the_match() -> None:
    a, b = cut(NEEDLE, [150])
    hay = printed([a, payload(9000, alphabet=1), b])
    assert not whole(hay)
    assert find_printed(hay, NEEDLE, max_gap=10000)[0] == len(NEEDLE)


def test_a_truncated_print_reports_how_far_it_got() -> None:
    assert find_printed(printed(cut(NEEDLE[:250], [100])), NEEDLE)[0] == 250


def test_recv_prefix_letters_cannot_stand_in_for_a_lost_chunk() -> None:
    needle = b"adgj" + b"v" + b"mpsy"  # alphabet 0 (the session's connection #0)
    lost = printed([b"adgj", b"", b"mpsy"], prefix=b"recv ")  # the chunk b"v" never printed
    assert find_printed(lost, needle)[0] < len(needle)


# -- find_printed: other text around a chunk on its line -------------------------------------
def test_chunks_with_a_suffix_on_their_line_are_found() -> None:
    assert whole(b"".join(fd_printf(cut(NEEDLE, [100, 7, 93]))))


def test_pythons_print_of_bytes_is_found() -> None:
    # print(f"echoing {data}") and print(f"echoing {data!r}") of an alphanumeric payload
    assert whole(printed(cut(NEEDLE, [50, 50, 50]), prefix=b"echoing b'", suffix=b"'"))


def test_the_asyncio_documentations_print_is_found() -> None:
    # print(f"Received {message!r} from {addr!r}"), the Python documentation's echo server
    chunks = cut(NEEDLE, [60, 1, 2, 80])
    assert whole(printed(chunks, prefix=b"Received '", suffix=b"' from ('127.0.0.1', 40012)"))


def test_crlf_line_ends_are_line_ends() -> None:
    assert whole(printed(cut(NEEDLE, [30, 30, 30]), prefix=b"[5] ", end=b"\r\n"))
    assert whole(printed(cut(NEEDLE, [30, 30, 30]), prefix=b"recv", end=b"\r\n"))


def test_a_chunk_glued_to_letters_after_it_is_not_a_chunk() -> None:
    # "abcqq": nothing tells where the chunk ends, as nothing would tell a reader.
    assert not whole(printed(cut(NEEDLE, [100, 100]), suffix=b"qq!"))
    assert whole(printed(cut(NEEDLE, [100, 100]), suffix=b" qq!"))


def test_a_coloured_chunk_is_found() -> None:
    # A logger colours its output on a terminal: the m of ESC[32m is no letter of the text.
    assert whole(printed(cut(NEEDLE, [100, 100]), prefix=b"recv \x1b[1;32m", suffix=b"\x1b[0m"))
    assert not whole(printed(cut(NEEDLE, [100, 100]), prefix=b"recv \x1b[1;32mm",
                             suffix=b"\x1b[0m"))


def test_a_chunk_glued_to_letters_before_it_needs_its_own_line_end() -> None:
    assert whole(printed(cut(NEEDLE, [100, 100]), prefix=b"recv"))  # the textbook's shape
    assert not whole(printed(cut(NEEDLE, [100, 100]), prefix=b"recv", suffix=b" !"))


def test_the_prefixs_digit_does_not_stand_in_for_the_chunk_beside_it() -> None:
    # needle alphabet 0 holds '5'; the 5 of "fd 5:" continues it by one byte, the chunk by 4
    needle = b"5adg" + b"jmps" + b"vyBE"
    assert find_printed(b"".join(fd_printf([b"5adg", b"jmps", b"vyBE"])), needle)[0] == 12


def test_letters_of_other_lines_do_not_stand_in_for_the_next_chunk() -> None:
    # print("got", len(data), data) with three clients.  Alphabet 1 holds b and 3: the b
    # of each other client's "b'Q'" and the 3 of a log line continue the payload by a
    # byte, then lead nowhere.  Forty such turns before the chunk, which stands off the
    # first chunk's column ("got 9 " is narrower than "got 20 "), are not all tried
    # first: a run of 4 bytes or more is more convincing than one of 1.
    first, second, third = payload(20, alphabet=1), b"b3Onq69Ob", payload(20, alphabet=1, seed=2)
    hay = b"".join([b"got 20 b'%s'\n" % first, b"client 0: 3 words\n" * 2,
                    b"got 1 b'Q'\n" * 40, b"got 9 b'%s'\n" % second, b"got 20 b'%s'\n" % third])
    assert find_printed(hay, first + second + third)[0] == 49


def test_a_chunk_is_looked_for_at_its_column_first() -> None:
    # "fd 25: 2 (1 bytes)": the 25 of the prefix continues the payload further than the
    # one-byte chunk does, but the chunk stands where the first one stood on its line.
    first = payload(20)
    needle = first + b"2" + b"5d" + b"g"
    assert whole(b"".join(fd_printf([first, b"2", b"5d", b"g"], fd=25)), needle)


def test_a_wrong_turn_is_undone() -> None:
    # print("got", len(data), data): the prefix's width varies with the count, so the
    # one-byte chunk is off the column, and a log line's lone 5 is on it.  Taking the 5
    # leads nowhere; the search goes back and takes the chunk.
    first, second = b"adgjmpsvyBEHKNQTWZ28", b"yvspmjgdaZWTQNKHEB82"  # alphabet 0, no 5
    hay = b"got 20 " + first + b"\ngot 1 5\ngot 20 " + second + b"\nworker 5 idle\n"
    assert find_printed(hay, first + b"5" + second) == (41, len(hay) - 15)


def test_chunks_separated_by_text_without_a_line_break_are_not_found() -> None:
    # "[abc][def]": without line breaks, chunks cannot be told from an interleaving.
    a, b = cut(NEEDLE, [150])
    assert not whole(b"[" + a + b"][" + b + b"]\n")
    assert whole(b"[" + a + b"]\n[" + b + b"]\n")


def test_chunks_printed_and_flushed_without_line_breaks_are_found() -> None:
    assert whole(b"started\n" + NEEDLE)  # printf("%s", buf); fflush(stdout) per chunk


# -- find_printed: coincidences are not finds ------------------------------------------------
def test_one_letter_of_a_log_line_is_not_a_find() -> None:
    assert MIN_FOUND == 8
    needle = b"p" + NEEDLE
    assert find_printed(b"server listening on port 8080\n", needle) == (0, 0)
    assert find_printed(b"started\n" + needle[:7] + b"\n", needle) == (0, 0)
    assert find_printed(b"started\n" + needle[:8] + b"\n", needle) == (8, 16)


def test_a_lost_byte_is_counted_where_it_was_lost_not_past_a_coincidence() -> None:
    # The last byte of each chunk is lost; the next chunk may continue the payload from
    # the lost byte by chance for a byte or two, inside its line: not counted.
    chunks = cut(NEEDLE, [40] * 7)
    hay = b"".join(fd_printf([c[:-1] for c in chunks]))
    assert find_printed(hay, NEEDLE)[0] == 39


def test_a_short_payload_found_whole_counts() -> None:
    assert find_printed(b"got: ad\n", b"ad") == (2, 7)


def test_the_escaped_forms_name_hex_and_repr() -> None:
    forms = escaped_forms(bytes([0, 1, 0x41]))
    assert forms["hexadecimal (lower case)"] == b"000141"
    assert forms["Python's repr() of bytes (escapes such as \\x00)"] == b"\\x00\\x01A"
    assert "Python's repr() of bytes (escapes such as \\x00)" not in escaped_forms(b"abc")


def test_a_repr_escaped_binary_payload_is_not_the_bytes_printed() -> None:
    data = bytes(range(1, 40))
    hay = b"echoing " + repr(data).encode() + b"\n"
    assert find_printed(hay, data)[0] < len(data)
    assert escaped_forms(data)["Python's repr() of bytes (escapes such as \\x00)"] in hay


# -- the property ------------------------------------------------------------------------
@st.composite
def chunked_payloads(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    alphabet = ALPHABETS[draw(st.integers(0, 2))]
    data = bytes(draw(st.lists(st.sampled_from(alphabet), min_size=1, max_size=400)))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(data) - 1)), max_size=30)))
    bounds = [0, *(c for c in cuts if c < len(data)), len(data)]
    return data, [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(derandomize=True, database=None, max_examples=150, deadline=None)
@given(chunked_payloads(), st.data())
def test_any_chunking_is_found_and_any_lost_byte_is_not(
    case: tuple[bytes, list[bytes]], data: st.DataObject
) -> None:
    needle, chunks = case
    hay = printed(chunks)
    assert find_printed(hay, needle)[0] == len(needle)
    lost = data.draw(st.integers(0, len(needle) - 1), label="lost byte")
    # Drop the byte from the output, keeping the line structure around it.
    pos = lost + sum(1 for c in _chunk_ends(chunks) if c <= lost)
    assert hay[pos] == needle[lost]
    assert find_printed(hay[:pos] + hay[pos + 1:], needle)[0] < len(needle)


def _chunk_ends(chunks: list[bytes]) -> list[int]:
    """Needle offsets at which a line break follows in the printed output."""
    ends, at = [], 0
    for c in chunks:
        at += len(c)
        ends.append(at)
    return ends


# Prefixes and suffixes around a chunk, without letters or digits: with those, a lost byte
# could be stood in for by a coincidence (the tests above take such cases one at a time).
FORMATS = [(b"", b""), (b"-> ", b""), (b"> ", b" <"), (b"[", b"]"), (b"'", b"' (#)"),
           (b"::: ", b" ;")]


@settings(derandomize=True, database=None, max_examples=150, deadline=None)
@given(chunked_payloads(), st.sampled_from(FORMATS), st.data())
def test_any_chunking_in_any_format_between_other_clients_is_found_and_any_lost_byte_is_not(
    case: tuple[bytes, list[bytes]], fmt: tuple[bytes, bytes], data: st.DataObject
) -> None:
    needle, chunks = case
    prefix, suffix = fmt
    mine = next(k for k, a in enumerate(ALPHABETS) if needle[0] in a)
    other = ALPHABETS[(mine + 1) % 3][:5]  # another client's chunk
    lines, where = [], []  # output lines, and the needle offset each chunk starts at
    at = 0
    for c in chunks:
        if data.draw(st.booleans(), label="another client's line first"):
            lines.append(prefix + other + suffix + b"\n")
        where.append((at, sum(map(len, lines)) + len(prefix)))
        lines.append(prefix + c + suffix + b"\n")
        at += len(c)
    hay = b"".join(lines)
    assert find_printed(hay, needle)[0] == len(needle)
    lost = data.draw(st.integers(0, len(needle) - 1), label="lost byte")
    offset, pos = max(w for w in where if w[0] <= lost)
    pos += lost - offset
    assert hay[pos] == needle[lost]
    assert find_printed(hay[:pos] + hay[pos + 1:], needle)[0] < len(needle)


# -- first_difference, hex_context, size ------------------------------------------------
@pytest.mark.parametrize(
    ("expected", "actual", "at"),
    [
        (b"abc", b"abc", None),
        (b"", b"", None),
        (b"abc", b"abx", 2),
        (b"abc", b"ab", 2),
        (b"ab", b"abc", 2),
        (b"abc", b"", 0),
        (b"x" * 10000, b"x" * 10000, None),
        (b"x" * 8192 + b"y", b"x" * 8192 + b"z", 8192),  # just past a 4 KiB block
        (b"x" * 4095 + b"y" + b"x" * 100, b"x" * 4096 + b"x" * 100, 4095),
    ],
)
def test_first_difference(expected: bytes, actual: bytes, at: int | None) -> None:
    assert first_difference(expected, actual) == at


def test_hex_context_marks_the_byte_and_elides_both_sides() -> None:
    data = bytes(range(32))
    assert hex_context(data, 16) == "… 08 09 0a 0b 0c 0d 0e 0f [10] 11 12 13 14 15 16 17 18 …"


def test_hex_context_at_the_start_and_past_the_end() -> None:
    assert hex_context(b"abc", 0) == "[61] 62 63"
    assert hex_context(b"abc", 3) == "61 62 63 [end]"
    assert hex_context(b"", 0) == "[end]"


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (1, "1 byte"), (2, "2 B"), (1000, "1000 B"), (1024, "1 KiB"),
     (1536, "1.5 KiB"), (64 << 10, "64 KiB"), (1 << 20, "1 MiB"), (5 << 19, "2.5 MiB"),
     ((1 << 20) + 1, "1048577 B"), (8 << 20, "8 MiB")],
)
def test_size(n: int, text: str) -> None:
    assert size(n) == text
