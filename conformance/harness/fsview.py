"""What a sandboxed server sees of the file system (bubblewrap arguments; see ``sandbox``).

Of the machine, only the system folders, read-only; its own folder as a private copy;
what the grader's command names.  Never the class folder, the other submissions, the
output folder or anyone's home: whatever is not bound here does not exist inside.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence

MAX_ENTRIES = 512  # a bigger folder is bound read-only whole instead of one mount per entry

# What a server sees of the machine besides its own folder: the toolchain, the system's
# libraries and configuration, read-only.  Not /home, /root, /srv, /mnt, /run, /var or
# wherever else the class folder, the other submissions, the grader's outputs and files
# live; and the secrets under /etc are hidden even from root (the sandbox's root keeps
# uid 0, which reads files mode 0600 owned by root).
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt",
          "/sys")
SECRETS = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers",
           "/etc/sudoers.d", "/etc/ssh", "/etc/ssl/private")


def system_args() -> list[str]:
    args: list[str] = []
    for path in SYSTEM:
        if os.path.islink(path):  # merged /usr: /bin -> usr/bin
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in SECRETS:
        if os.path.isdir(path) and not os.path.islink(path):
            args += ["--tmpfs", path, "--remount-ro", path]
        elif os.path.lexists(path):
            args += ["--ro-bind", "/dev/null", path]
    return args


def _inside(path: str, folders: Iterable[str]) -> bool:
    return any(path == f or path.startswith(f.rstrip(os.sep) + os.sep) for f in folders)


def system_path(path: str) -> bool:
    """Whether ``path`` (absolute) is in a folder every sandbox shows: a submission may
    name /usr/bin/python3, not a file of the grader's."""
    path = os.path.normpath(path)
    return _inside(path, SYSTEM) and not _inside(path, SECRETS)


def keep_visible(argv: Sequence[str]) -> list[str]:
    """Read-only binds for what the server needs beyond the system folders: the Python
    environment (a virtualenv, pyenv under the home folder, a tox env under /tmp) and the
    files named by absolute paths in the command (a script run from a checkout).  Only
    the files, never their folders: a student's command names no absolute path (intake
    refuses one), so these come from the grader."""
    wanted = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    files = {os.path.realpath(a) for a in argv if os.path.isabs(a) and os.path.isfile(a)}
    system = [os.path.realpath(p) for p in SYSTEM if not os.path.islink(p)]
    chosen: list[str] = []
    for p in sorted(wanted | files):  # parents first; one inside a chosen one needs none
        if not _inside(p, system) and not _inside(p, chosen):
            chosen.append(p)
    return [a for p in chosen for a in ("--ro-bind", p, p)]


def folder_args(cwd: str, size: list[str], writable: bool) -> list[str]:
    """The server's folder: a private tmpfs (``size``) with its entries bound read-only,
    so what it writes vanishes; a build's folder writable; a folder of more than
    MAX_ENTRIES entries read-only whole (one mount per entry would be too many)."""
    if writable:
        return ["--bind", cwd, cwd]
    try:
        entries = sorted(os.listdir(cwd))
    except OSError:
        return []
    if cwd == "/":
        return []
    if len(entries) > MAX_ENTRIES:
        return ["--ro-bind", cwd, cwd]
    args = [*size, "--tmpfs", cwd]
    for name in entries:
        path = os.path.join(cwd, name)
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path) or os.path.isfile(path):
            args += ["--ro-bind", path, path]
    return args
