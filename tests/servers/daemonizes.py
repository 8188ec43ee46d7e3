"""A sequential echo server that first leaves a daemon behind: double fork + setsid.

The daemon is in a session of its own (a process-group kill misses it), its parent has
exited (it is nobody's child but init's or a subreaper's), it ignores SIGTERM, and it
runs until killed.  It inherits the environment, token included.
Usage: daemonizes.py PORT
"""

import os
import signal
import socket
import sys


def _daemonize() -> None:
    child = os.fork()
    if child:
        os.waitpid(child, 0)  # the middle process exits at once
        return
    os.setsid()
    if os.fork():
        os._exit(0)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        signal.pause()


def main() -> None:
    _daemonize()
    with socket.create_server(("127.0.0.1", int(sys.argv[1]))) as listener:
        while True:
            conn, _ = listener.accept()
            with conn:
                while data := conn.recv(4096):
                    conn.sendall(data)


if __name__ == "__main__":
    main()
