"""A small io_uring binding over ctypes: just what a TCP server needs, and a probe.

Why our own binding and not PyPI's ``liburing`` (measured on Linux 6.18, x86_64, Python
3.10, 3.11 and 3.13, liburing 2026.3.30, in scratch venvs):
- Its README requires Linux 6.14+; distributions still ship 5.15 and 6.1.  It ran here.
- Its waits hold the GIL.  While the main thread sat in a 1 s io_uring_wait_cqe_timeout(),
  a counting thread advanced 0.15 to 0.26 million times, against 14 to 18 million during
  time.sleep(1); and a client thread started before io_uring_wait_cqe() never got to
  connect: the process hung.  Measured the same way, our binding's wait let the counter
  advance 14 to 20 million times.  Our server has one thread, but a binding that freezes
  all the others is a poor thing to teach with.
- One wheel: manylinux x86_64 (abi3, Python 3.10 to 3.14); none for aarch64 or musl, no
  sdist newer than 2024.  3.2 MB installed (a 3 MB Zig-built .so), and its send and recv
  wrappers are marked "Coded but not tested!!!".
- The reference servers use the standard library only; a dependency would be a first.
This module is the alternative: two system calls, three mmap()s, five opcodes, some 280
lines of code.  ctypes releases the GIL around every foreign call, io_uring_enter() too.

How io_uring is laid out (io_uring(7), io_uring_setup(2), io_uring_enter(2)):
io_uring_setup() returns a descriptor and fills ``struct io_uring_params`` with the
offsets of three shared memory areas, which we mmap(): the submission ring (head, tail
and an array of SQE indices), the SQE array itself, and the completion ring (head, tail
and the CQEs).  We write a 64-byte SQE (opcode, fd, buffer address, length, user_data),
put its index in the ring and advance the SQ tail; io_uring_enter() makes the kernel
consume the new entries and, with IORING_ENTER_GETEVENTS, sleep until ``min_complete``
have completed.  The kernel writes each result as a 16-byte CQE (our user_data and
``res``: a byte count, a new fd, or -errno) and advances the CQ tail; we read the CQEs
and advance the CQ head to give the slots back.  Head and tail are free-running 32-bit
counters; ``index & mask`` is the slot.

Memory ordering.  The rings are memory both sides write, so each side must see the
other's stores in the right order: an SQE before the tail that publishes it, a CQE's
contents before the tail that announces it.  liburing pairs a release store of each
tail with an acquire load of the other side's.  ctypes gives no fences: a field access
is a call into C that (in practice) makes one aligned load or store of the field's size,
so never a torn value, and no access of ours can move across that call: in effect a
compiler barrier, no more.
- Submission needs no more: without SQPOLL the kernel reads the SQ only inside our own
  io_uring_enter() call, on our thread, and a thread sees its own stores in order.
- Completion on x86-64 needs no more either: its memory model (TSO) never reorders a
  load with an earlier load, nor a store with an earlier load, so "load tail, load
  CQEs, store head" is ordered as written.  liburing's x86 barriers are compiler-only.
- On arm64 loads can be reordered, so we set IORING_SETUP_DEFER_TASKRUN (Linux 6.1,
  with SINGLE_ISSUER): completions are then posted only by our own thread, inside
  io_uring_enter(GETEVENTS), and program order suffices again.  On x86-64 we ask for it
  too, and fall back to a plain ring on older kernels.

Buffers: the kernel writes into a RECV's buffer and reads a SEND's at any moment until
the CQE arrives.  The ring keeps a ctypes view of each buffer (``_owned``) from the SQE
to its CQE, so the buffer cannot be freed; the view also pins the bytearray, which then
refuses to grow or shrink (BufferError) rather than move under the kernel's feet.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import platform
import socket
import sys
import time
from typing import Any

assert sys.platform == "linux", "io_uring exists on Linux only"

# Syscall numbers: x86_64's syscall_64.tbl and asm-generic/unistd.h (which arm64 uses)
# agree since Linux 5.1; only alpha, ia64 and mips number them differently.
_NR_SETUP, _NR_ENTER = 425, 426
_ARCHES = ("x86_64", "aarch64")

_OFF_SQ_RING, _OFF_CQ_RING, _OFF_SQES = 0, 0x8000000, 0x10000000
_ENTER_GETEVENTS = 1 << 0
_SETUP_SINGLE_ISSUER, _SETUP_DEFER_TASKRUN = 1 << 12, 1 << 13
OP_ACCEPT, OP_ASYNC_CANCEL, OP_SEND, OP_RECV = 13, 14, 26, 27  # Linux 5.5, 5.5, 5.6, 5.6
OP_PROVIDE_BUFFERS = 31  # Linux 5.7, with IOSQE_BUFFER_SELECT
_SQE_BUFFER_SELECT, _CQE_F_BUFFER, _CQE_BUFFER_SHIFT = 1 << 5, 1 << 0, 16
_U32 = 0xFFFFFFFF  # head and tail wrap at 2**32
_u32, _u64 = ctypes.c_uint32, ctypes.c_uint64


class _SQOffsets(ctypes.Structure):  # struct io_sqring_offsets
    _fields_ = [("head", _u32), ("tail", _u32), ("ring_mask", _u32), ("ring_entries", _u32),
                ("flags", _u32), ("dropped", _u32), ("array", _u32), ("resv1", _u32),
                ("user_addr", _u64)]


class _CQOffsets(ctypes.Structure):  # struct io_cqring_offsets
    _fields_ = [("head", _u32), ("tail", _u32), ("ring_mask", _u32), ("ring_entries", _u32),
                ("overflow", _u32), ("cqes", _u32), ("flags", _u32), ("resv1", _u32),
                ("user_addr", _u64)]


class _Params(ctypes.Structure):  # struct io_uring_params
    _fields_ = [("sq_entries", _u32), ("cq_entries", _u32), ("flags", _u32),
                ("sq_thread_cpu", _u32), ("sq_thread_idle", _u32), ("features", _u32),
                ("wq_fd", _u32), ("resv", _u32 * 3), ("sq_off", _SQOffsets),
                ("cq_off", _CQOffsets)]


class _SQE(ctypes.Structure):  # struct io_uring_sqe; op_flags: msg_flags, accept_flags...
    _fields_ = [("opcode", ctypes.c_uint8), ("flags", ctypes.c_uint8),
                ("ioprio", ctypes.c_uint16), ("fd", ctypes.c_int32), ("off", _u64),
                ("addr", _u64), ("len", _u32), ("op_flags", _u32), ("user_data", _u64),
                ("buf_group", ctypes.c_uint16), ("personality", ctypes.c_uint16),
                ("splice_fd_in", ctypes.c_int32), ("unused", _u64 * 2)]


class _CQE(ctypes.Structure):  # struct io_uring_cqe
    _fields_ = [("user_data", _u64), ("res", ctypes.c_int32), ("flags", _u32)]


assert ctypes.sizeof(_Params) == 120 and ctypes.sizeof(_SQE) == 64
assert ctypes.sizeof(_CQE) == 16

try:  # the C library this interpreter already uses (glibc, musl)
    _libc: Any = ctypes.CDLL(None, use_errno=True)
    _libc.syscall.restype = ctypes.c_long
    _libc.mmap.restype = ctypes.c_void_p
    _libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                           ctypes.c_int, ctypes.c_long)
    _libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
except (OSError, TypeError):  # Windows: probe() says "Linux-only" before anything uses it
    _libc = None
_MAP_FAILED = ctypes.c_void_p(-1).value


def _check(ret: int | None, bad: object = -1) -> int:
    if ret is None or ret == bad:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return ret


def _syscall(nr: int, *args: int) -> int:
    # syscall(2) is variadic and reads every argument as a long: pass longs, not C ints.
    return _check(_libc.syscall(ctypes.c_long(nr), *(ctypes.c_long(a) for a in args)))


class Ring:
    """One io_uring: queue operations with the op methods, then ``submit``, then ``reap``.

    ``user_data`` is yours: any 64-bit number, unique among the operations in flight; it
    comes back with the operation's result.  One CQE per SQE (no multishot operations).
    Use a ring from the thread that created it (SINGLE_ISSUER).

    Provided buffers (``provide`` and ``recv_from_pool``): instead of a buffer per RECV,
    the kernel is given a pool, a group of equal buffers numbered from 0, and picks one
    only when data arrives.  The CQE names it (``reap``'s buffer id), and it is the
    kernel's again only once provided again.  An idle connection then pins no memory.
    """

    def __init__(self, entries: int = 256) -> None:
        params = _Params(flags=_SETUP_SINGLE_ISSUER | _SETUP_DEFER_TASKRUN)
        try:
            self.fd = _syscall(_NR_SETUP, entries, ctypes.addressof(params))
        except OSError as e:
            if e.errno != errno.EINVAL or platform.machine() != "x86_64":
                raise
            params = _Params()  # before Linux 6.1; x86 ordering does not need the flags
            self.fd = _syscall(_NR_SETUP, entries, ctypes.addressof(params))
        self._maps: list[tuple[int, int]] = []
        self._owned: dict[int, Any] = {}  # user_data -> buffer view the kernel may use
        self._pools: dict[int, Any] = {}  # id(pool) -> view: provided buffers stay pinned
        sq_off, cq_off = params.sq_off, params.cq_off
        try:
            sq = self._map(sq_off.array + 4 * params.sq_entries, _OFF_SQ_RING)
            cq = self._map(cq_off.cqes + 16 * params.cq_entries, _OFF_CQ_RING)
            sqes = self._map(64 * params.sq_entries, _OFF_SQES)
        except OSError:
            self.close()
            raise
        self.entries = params.sq_entries
        self._sq_head = ctypes.c_uint32.from_address(sq + sq_off.head)  # the kernel's
        self._sq_tail = ctypes.c_uint32.from_address(sq + sq_off.tail)  # ours
        self._sq_mask = ctypes.c_uint32.from_address(sq + sq_off.ring_mask).value
        self._sq_array = (ctypes.c_uint32 * self.entries).from_address(sq + sq_off.array)
        self._sqes = (_SQE * self.entries).from_address(sqes)
        self._cq_head = ctypes.c_uint32.from_address(cq + cq_off.head)  # ours
        self._cq_tail = ctypes.c_uint32.from_address(cq + cq_off.tail)  # the kernel's
        self._cq_mask = ctypes.c_uint32.from_address(cq + cq_off.ring_mask).value
        self._cqes = (_CQE * params.cq_entries).from_address(cq + cq_off.cqes)

    def _map(self, length: int, offset: int) -> int:
        prot, flags = mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED | mmap.MAP_POPULATE
        addr = _check(_libc.mmap(None, length, prot, flags, self.fd, offset), _MAP_FAILED)
        self._maps.append((addr, length))
        return addr

    def _push(self, opcode: int, fd: int, user_data: int, *, addr: int = 0, length: int = 0,
              op_flags: int = 0, keep: Any = None, off: int = 0, flags: int = 0,
              group: int = 0) -> None:
        if self.fd < 0:
            raise ValueError("the ring is closed")
        if user_data in self._owned:
            raise ValueError(f"user_data {user_data} is already in flight")
        if self._queued() == self.entries:
            self.submit()  # the SQ is full: hand it to the kernel, which frees the slots
            if self._queued() == self.entries:
                raise OSError(errno.EBUSY, "the io_uring submission queue stays full")
        tail = self._sq_tail.value
        index = tail & self._sq_mask
        sqe = self._sqes[index]
        ctypes.memset(ctypes.addressof(sqe), 0, ctypes.sizeof(sqe))
        sqe.opcode, sqe.fd, sqe.addr, sqe.len = opcode, fd, addr, length
        sqe.op_flags, sqe.user_data = op_flags, user_data
        sqe.off, sqe.flags, sqe.buf_group = off, flags, group
        self._sq_array[index] = index
        self._sq_tail.value = (tail + 1) & _U32  # the kernel reads it in our next enter()
        self._owned[user_data] = keep

    def _queued(self) -> int:
        """SQEs written but not yet consumed by the kernel."""
        return (self._sq_tail.value - self._sq_head.value) & _U32

    def accept(self, fd: int, user_data: int) -> None:
        """Accept a connection on listening socket ``fd``; the result is the new fd."""
        self._push(OP_ACCEPT, fd, user_data, op_flags=socket.SOCK_CLOEXEC)

    def recv(self, fd: int, buf: bytearray, user_data: int) -> None:
        """Receive into ``buf``; the result is the byte count, 0 at EOF."""
        view = (ctypes.c_char * len(buf)).from_buffer(buf)
        self._push(OP_RECV, fd, user_data, addr=ctypes.addressof(view), length=len(buf),
                   keep=view)

    def recv_from_pool(self, fd: int, length: int, group: int, user_data: int) -> None:
        """Receive up to ``length`` bytes into a buffer the kernel takes from ``group``
        when data arrives; -ENOBUFS if the group is empty then."""
        self._push(OP_RECV, fd, user_data, length=length, flags=_SQE_BUFFER_SELECT,
                   group=group)

    def provide(self, pool: bytearray, size: int, first: int, count: int, group: int,
                user_data: int) -> None:
        """Give the kernel buffers ``first`` to ``first + count - 1`` of ``pool``, each
        ``size`` bytes, as group ``group``; the result is 0 or -errno."""
        view = self._pools.get(id(pool))
        if view is None:  # kept until close(): the kernel may hold some buffer at any time
            view = self._pools[id(pool)] = (ctypes.c_char * len(pool)).from_buffer(pool)
        self._push(OP_PROVIDE_BUFFERS, count, user_data, length=size, off=first, group=group,
                   addr=ctypes.addressof(view) + first * size)

    def send(self, fd: int, buf: bytearray, offset: int, user_data: int) -> None:
        """Send ``buf[offset:]``; the result is the byte count, which may be short."""
        view = (ctypes.c_char * (len(buf) - offset)).from_buffer(buf, offset)
        self._push(OP_SEND, fd, user_data, addr=ctypes.addressof(view), length=len(view),
                   op_flags=socket.MSG_NOSIGNAL, keep=view)

    def cancel(self, target: int, user_data: int) -> None:
        """Cancel the operation whose user_data is ``target``: it completes -ECANCELED."""
        self._push(OP_ASYNC_CANCEL, -1, user_data, addr=target)

    def submit(self, wait_nr: int = 0) -> None:
        """Hand the queued SQEs to the kernel and wait until ``wait_nr`` CQEs are ready.

        A signal ends the wait early (EINTR): we return, and Python runs its handler as
        soon as we are back in bytecode.  GETEVENTS also makes the kernel post the
        completions that DEFER_TASKRUN keeps for this moment, even with ``wait_nr`` 0.
        EAGAIN (no memory for requests now) and EBUSY (completions overflowed the CQ)
        return too: reap, then submit again.
        """
        try:
            _syscall(_NR_ENTER, self.fd, self._queued(), wait_nr, _ENTER_GETEVENTS, 0, 0)
        except InterruptedError:
            pass
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EBUSY):
                raise

    def reap(self) -> list[tuple[int, int, int | None]]:
        """The completions ready now, as (user_data, res, buffer id); a negative res is
        -errno; the buffer id names the provided buffer a RECV used, else it is None."""
        head, tail = self._cq_head.value, self._cq_tail.value
        done = []
        while head != tail:
            cqe = self._cqes[head & self._cq_mask]
            bid = cqe.flags >> _CQE_BUFFER_SHIFT if cqe.flags & _CQE_F_BUFFER else None
            done.append((cqe.user_data, cqe.res, bid))
            head = (head + 1) & _U32
        self._cq_head.value = head  # after the copies: the kernel may now reuse the slots
        for user_data, _, _ in done:
            self._owned.pop(user_data, None)  # the kernel is done with that buffer
        return done

    def close(self) -> None:
        """Close the ring: the kernel cancels whatever is still in flight."""
        if self.fd < 0:
            return
        os.close(self.fd)
        for addr, length in self._maps:
            _libc.munmap(addr, length)
        self._maps.clear()
        self.fd = -1
        self._owned.clear()  # only now may the buffers go
        self._pools.clear()

    def __enter__(self) -> Ring:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _explain(e: OSError) -> str:
    """Why io_uring_setup() failed, in words a student can act on."""
    name = errno.errorcode.get(e.errno or 0, str(e.errno))
    if e.errno == errno.ENOSYS:
        return ("io_uring_setup() failed with ENOSYS: this kernel has no io_uring (before "
                "Linux 5.1, or built without CONFIG_IO_URING), or a sandbox hides it "
                "(gVisor, a seccomp profile answering ENOSYS such as Podman's)")
    if e.errno == errno.EPERM:
        try:
            with open("/proc/sys/kernel/io_uring_disabled") as f:
                disabled = f.read().strip()
        except OSError:
            disabled = "0"
        if disabled != "0":
            return (f"io_uring_setup() failed with EPERM: the sysctl "
                    f"kernel.io_uring_disabled is {disabled} (1: root and the group "
                    f"kernel.io_uring_group only; 2: nobody)")
        return ("io_uring_setup() failed with EPERM: forbidden by a seccomp profile "
                "(Docker's default profile denies io_uring; run with "
                "--security-opt seccomp=unconfined, or a profile that allows it)")
    if e.errno == errno.ENOMEM:
        return (f"io_uring_setup() failed with ENOMEM: before Linux 5.12 the rings count "
                f"against the locked-memory limit (`ulimit -l`); this is {platform.release()}")
    if e.errno == errno.EINVAL and platform.machine() != "x86_64":
        return (f"io_uring_setup() failed with EINVAL: on {platform.machine()} this "
                f"binding needs IORING_SETUP_DEFER_TASKRUN (Linux 6.1); this is "
                f"{platform.release()}")
    return f"io_uring_setup() failed with {name}: {e.strerror}"


def _round_trip(ring: Ring) -> str | None:
    """Accept, receive (into a provided buffer), send and cancel once over loopback; each
    step completes at once."""
    results: dict[int, int] = {}

    def wait_for(*user_data: int) -> None:  # polled, so that a missing completion cannot hang
        deadline = time.monotonic() + 2.0
        while not results.keys() >= set(user_data) and time.monotonic() < deadline:
            ring.submit()
            results.update((user_data, res) for user_data, res, _ in ring.reap())
            time.sleep(0.001)

    pool = bytearray(8)
    with socket.create_server(("127.0.0.1", 0)) as lst, \
            socket.create_connection(lst.getsockname(), timeout=2.0) as client:
        client.sendall(b"ping")
        ring.accept(lst.fileno(), 1)
        wait_for(1)
        fd = results.get(1, -1)
        if fd >= 0:
            try:
                ring.provide(pool, 8, 0, 1, 0, 6)
                ring.recv_from_pool(fd, 8, 0, 2)
                ring.send(fd, bytearray(b"pong"), 0, 3)
                wait_for(6, 2, 3)
                ring.recv(fd, bytearray(8), 4)  # nothing more comes: only a cancel ends it
                ring.cancel(4, 5)
                wait_for(4, 5)
            finally:
                os.close(fd)
    steps = ((1, "ACCEPT", "a new fd", lambda r: r >= 0),
             (2, "RECV", "4 bytes", lambda r: r == 4),
             (3, "SEND", "4 bytes", lambda r: r == 4),
             (4, "RECV", "an error such as -ECANCELED", lambda r: r < 0),
             (5, "ASYNC_CANCEL", "0", lambda r: r in (0, -errno.EALREADY)),
             (6, "PROVIDE_BUFFERS", "0", lambda r: r == 0))
    for user_data, op, want, ok in steps:
        res = results.get(user_data)
        if res is None or not ok(res):
            got = "nothing within 2 s" if res is None else _describe(res)
            return (f"IORING_OP_{op} gave {got} where {want} was due: this kernel's "
                    f"io_uring lacks what a TCP server needs (ACCEPT and ASYNC_CANCEL: "
                    f"Linux 5.5; SEND and RECV: 5.6; PROVIDE_BUFFERS: 5.7)")
    return None


def _describe(res: int) -> str:
    return str(res) if res >= 0 else f"-{errno.errorcode.get(-res, str(-res))}"


def probe() -> str | None:
    """None when io_uring can serve TCP here; otherwise the reason, for a skip message."""
    if not sys.platform.startswith("linux"):
        return f"io_uring is Linux-only; this is {sys.platform}"
    if platform.machine() not in _ARCHES:
        return (f"this binding is checked on {' and '.join(_ARCHES)} only; this machine is "
                f"{platform.machine()}")
    try:
        ring = Ring(8)
    except OSError as e:
        return _explain(e)
    with ring:
        try:
            return _round_trip(ring)
        except OSError as e:
            return f"the loopback round trip through io_uring failed: {e}"


def _main(argv: list[str]) -> int:
    """``--probe``: print "ok" and return 0, or print the reason on one line and return 1."""
    if argv != ["--probe"]:
        print("usage: python -m implementations._uring --probe\n"
              "prints 'ok' (exit 0) when io_uring works here, else the reason (exit 1)",
              file=sys.stderr)
        return 2
    try:
        reason = probe()
    except Exception as e:  # a bug of ours must still read as a reason, not a traceback
        reason = f"the io_uring probe itself failed: {e!r}"
    print(reason or "ok")
    return 1 if reason else 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
