"""A sequential echo server that first leaves a daemon no token can find: double fork,
setsid, PR_SET_PDEATHSIG cleared, and then an exec with an empty environment (the
harness's token, and the run's id, are gone).  The daemon ignores SIGTERM and sleeps;
its command line ends with the marker given, so a test can look for it.
Usage: escapes_teardown.py PORT MARKER
"""

import ctypes
import os
import socket
import sys

_DAEMON = "import signal, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); " \
          "[signal.pause() for _ in iter(int, 1)]"


def _daemonize(marker: str) -> None:
    if child := os.fork():
        os.waitpid(child, 0)
        return
    os.setsid()
    if os.fork():
        os._exit(0)
    ctypes.CDLL(None).prctl(1, 0, 0, 0, 0)  # PR_SET_PDEATHSIG: none
    os.execve(sys.executable, [sys.executable, "-c", _DAEMON, marker], {})


def main() -> None:
    _daemonize(sys.argv[2])
    with socket.create_server(("127.0.0.1", int(sys.argv[1]))) as listener:
        print("done", flush=True)
        while True:
            conn, _ = listener.accept()
            with conn:
                while data := conn.recv(4096):
                    conn.sendall(data)


if __name__ == "__main__":
    main()
