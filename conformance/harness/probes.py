"""Is a model's mechanism usable on this machine?  Probed, not assumed from the platform.

io_uring can exist in the kernel and still be refused: Docker's default seccomp profile
denies ``io_uring_setup``, and ``kernel.io_uring_disabled`` can switch it off.  One real
``io_uring_setup`` call tells, and its errno says why.  On Windows, WSAPoll must resolve in
ws2_32.dll, and IOCP needs CPython's private ``_overlapped`` module (asyncio's proactor
is built on it); the hand-written IOCP server also needs the names it uses from it.
"""

from __future__ import annotations

import errno
import functools
import os
import platform
import sys

_IO_URING_SETUP = {"x86_64": 425, "aarch64": 425, "arm64": 425, "riscv64": 425}


@functools.cache
def _io_uring() -> str | None:
    if not sys.platform.startswith("linux"):
        return "io_uring exists on Linux only"
    nr = _IO_URING_SETUP.get(platform.machine())
    if nr is None:
        return f"io_uring is not probed on {platform.machine()}"
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)  # struct io_uring_params, zeroed
    fd = libc.syscall(nr, 4, params)
    if fd >= 0:
        os.close(fd)
        return None
    err = ctypes.get_errno()
    why = {errno.ENOSYS: "the kernel has no io_uring (or a sandbox hides it)",
           errno.EPERM: "io_uring is forbidden here (a seccomp profile such as Docker's "
                        "default, or the sysctl kernel.io_uring_disabled)",
           errno.ENOMEM: "io_uring needs more locked memory (ulimit -l)"}
    return why.get(err, f"io_uring_setup failed: {os.strerror(err)}")


@functools.cache
def _wsapoll() -> str | None:
    if sys.platform != "win32":
        return "WSAPoll exists on Windows only"
    import ctypes

    try:
        ctypes.WinDLL("ws2_32").WSAPoll  # type: ignore[attr-defined,unused-ignore]  # noqa: B018
    except (OSError, AttributeError):
        return "ws2_32.dll has no WSAPoll (it needs Windows Vista or later)"
    return None


@functools.cache
def _iocp() -> str | None:
    if sys.platform != "win32":
        return "I/O completion ports exist on Windows only"
    try:
        import _overlapped  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
    except ImportError:
        return "this Python has no _overlapped module (asyncio's proactor needs it)"
    return None


# What implementations/iocp_overlapped.py uses of CPython's private _overlapped module
# (asyncio's proactor uses the same): a later CPython may rename or drop any of it.
OVERLAPPED_NAMES = ("CreateIoCompletionPort", "GetQueuedCompletionStatus", "Overlapped",
                    "INVALID_HANDLE_VALUE", "INFINITE", "SO_UPDATE_ACCEPT_CONTEXT")
OVERLAPPED_METHODS = ("AcceptEx", "WSARecv", "WSASend", "getresult", "address")


@functools.cache
def iocp_overlapped() -> str | None:
    """Why the ``_overlapped`` variant of the iocp model cannot run here, or None."""
    reason = _iocp()
    if reason is not None:
        return reason
    import _overlapped  # type: ignore[import-not-found,unused-ignore]

    missing = [n for n in OVERLAPPED_NAMES if not hasattr(_overlapped, n)]
    missing += [f"Overlapped.{n}" for n in OVERLAPPED_METHODS
                if not hasattr(_overlapped.Overlapped, n)]
    if missing:
        return f"CPython's private _overlapped module lacks {', '.join(missing)}"
    return None


_PROBES = {"io_uring": _io_uring, "wsapoll": _wsapoll, "iocp": _iocp}


def model_unavailable(model: str) -> str | None:
    probe = _PROBES.get(model)
    return probe() if probe else None
