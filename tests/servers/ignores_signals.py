"""A sequential echo server that ignores SIGTERM and SIGINT: only SIGKILL stops it.

Usage: ignores_signals.py PORT
"""

import signal
import socket
import sys


def main() -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    with socket.create_server(("127.0.0.1", int(sys.argv[1]))) as listener:
        while True:
            conn, _ = listener.accept()
            with conn:
                while data := conn.recv(4096):
                    conn.sendall(data)


if __name__ == "__main__":
    main()
