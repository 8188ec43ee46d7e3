"""Is a model's mechanism usable on this machine?  Probed, not assumed from the platform.

io_uring can exist in the kernel and still be refused: Docker's default seccomp profile
denies ``io_uring_setup``, and ``kernel.io_uring_disabled`` can switch it off.  One real
``io_uring_setup`` call tells, and its errno says why.
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


_PROBES = {"io_uring": _io_uring}


def model_unavailable(model: str) -> str | None:
    probe = _PROBES.get(model)
    return probe() if probe else None
