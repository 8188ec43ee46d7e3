"""Taking in a submission's folder: measure it and copy it, trusting nothing in it.

A folder handed in by a student can hold anything a file system can: a named pipe (whose
open() blocks until someone writes to it), a Unix socket or a device file (whose open()
fails, or talks to a driver), a symlink to /etc/shadow or to the root (followed, a
walk would copy the whole machine), a file nobody may read, names in any encoding.  So
nothing here follows a symlink or opens anything but a regular file, found by lstat()
and opened with O_NOFOLLOW | O_NONBLOCK (a file swapped for a pipe in between opens
without blocking, and is then seen not to be regular).  What is left out is said, one
note per entry, in the submission's report: a grade never silently depends on it.

Symlinks are copied as symlinks when they point inside the submission (``build`` ->
``src/build``); one that points out of it is left out: inside the sandbox it would reach
nothing, or a system file, and outside it the grader's own files.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

SKIPPED = (".git", "__pycache__")
_NOTES = 20  # at most this many notes; the rest are counted


def size(folder: Path) -> int:
    """Bytes of the regular files under ``folder``, following no symlink."""
    total = 0
    for top, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in SKIPPED]
        for name in files:
            try:
                st = os.lstat(os.path.join(top, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


def copy(src: Path, dst: Path) -> list[str]:
    """Copy ``src`` to the new folder ``dst``; notes on every entry left out."""
    notes: list[str] = []
    root = os.path.realpath(src)
    _copy_dir(root, str(dst), root, notes)
    if len(notes) > _NOTES:
        notes[_NOTES:] = [f"... and {len(notes) - _NOTES} more entries left out"]
    return notes


def _shown(path: str, root: str) -> str:
    rel = os.path.relpath(path, root)
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _copy_dir(src: str, dst: str, root: str, notes: list[str]) -> None:
    os.mkdir(dst, 0o755)
    try:
        entries = sorted(os.scandir(src), key=lambda e: e.name)
    except OSError as e:
        notes.append(f"{_shown(src, root)}: left out, cannot list it ({e.strerror})")
        return
    for entry in entries:
        if entry.name in SKIPPED:
            continue
        path, to = entry.path, os.path.join(dst, entry.name)
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                _copy_dir(path, to, root, notes)
            elif stat.S_ISLNK(mode):
                _copy_link(path, to, root, notes)
            elif stat.S_ISREG(mode):
                _copy_file(path, to, mode)
            else:
                notes.append(f"{_shown(path, root)}: left out, not a regular file "
                             f"({_kind(mode)})")
        except OSError as e:
            notes.append(f"{_shown(path, root)}: left out, cannot read it ({e.strerror})")


def _copy_link(path: str, to: str, root: str, notes: list[str]) -> None:
    target = os.readlink(path)
    resolved = os.path.realpath(os.path.join(os.path.dirname(path), target))
    if resolved != root and not resolved.startswith(root + os.sep):
        notes.append(f"{_shown(path, root)}: left out, a symlink pointing out of the "
                     "submission")
        return
    os.symlink(target, to)


def _copy_file(path: str, to: str, mode: int) -> None:
    # POSIX only: Windows has neither flag, and no FIFO or symlink to open by mistake.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "it changed into something else than a file")
        out = os.open(to, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IMODE(mode) | 0o600)
        try:
            while chunk := os.read(fd, 1 << 20):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(out, view):]
        finally:
            os.close(out)
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a Unix socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "an unknown file type"
