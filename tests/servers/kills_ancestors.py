"""A sequential echo server that first SIGKILLs every ancestor it can name, nearest
first, as a hostile submission would to end the grading run (and every grade with it).

It walks its parents through /proc (``PPid:``) and kills each; the walk stops at pid 1,
at a process it cannot see, or after the ancestor whose command line holds ``--victim``
(the test's stand-in harness: if the sandbox fails, the damage stops there).  It
reports each pid it killed on stdout, then ``done``, then serves.
Usage: kills_ancestors.py PORT
"""

import os
import signal
import socket
import sys


def _parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            return int(next(ln for ln in f if ln.startswith("PPid:")).split()[1])
    except (OSError, StopIteration, ValueError):
        return 0


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def main() -> None:
    listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
    pid = os.getpid()
    while (pid := _parent(pid)) > 1:
        victim = b"--victim" in _cmdline(pid)
        try:
            os.kill(pid, signal.SIGKILL)
            print(f"killed {pid}", flush=True)
        except OSError as e:
            print(f"could not kill {pid}: {e.strerror}", flush=True)
        if victim:
            break
    print("done", flush=True)
    with listener:
        while True:
            conn, _ = listener.accept()
            with conn:
                while data := conn.recv(4096):
                    conn.sendall(data)


if __name__ == "__main__":
    main()
