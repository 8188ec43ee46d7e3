"""A sequential echo server that first SIGKILLs every other server of its run it can
find, as a hostile submission would to zero its classmates' grades.

Servers are found through /proc: every process whose environment holds a server token
(``IOCONFORM_TOKEN``) and this one's ``IOCONFORM_RUN`` (the run id every server
inherits) is killed; the run id keeps a failed sandbox from reaching other runs.  It
reports the pids it could see besides its own, each kill, then ``done``; then it serves.
Usage: kills_servers.py PORT
"""

import os
import signal
import socket
import sys


def _environ(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()
    except OSError:
        return b""


def main() -> None:
    listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
    run = os.environ.get("IOCONFORM_RUN", "")
    mark = f"IOCONFORM_RUN={run}".encode()
    others = sorted(int(n) for n in os.listdir("/proc") if n.isdigit() and int(n) != os.getpid())
    print("visible", *others, flush=True)
    for pid in others:
        env = _environ(pid).split(b"\0")
        if run and mark in env and any(v.startswith(b"IOCONFORM_TOKEN=") for v in env):
            try:
                os.kill(pid, signal.SIGKILL)
                print(f"killed {pid}", flush=True)
            except OSError as e:
                print(f"could not kill {pid}: {e.strerror}", flush=True)
    print("done", flush=True)
    with listener:
        while True:
            conn, _ = listener.accept()
            with conn:
                while data := conn.recv(4096):
                    conn.sendall(data)


if __name__ == "__main__":
    main()
