"""An echo server that spins: after its first client it loops on a non-blocking
recv() of that client forever, burning a CPU, and never accepts again.

Usage: spins.py PORT
"""

import socket
import sys


def main() -> None:
    server = socket.create_server(("127.0.0.1", int(sys.argv[1])), backlog=128)
    conn, _ = server.accept()
    conn.setblocking(False)
    while True:  # the defect: no wait, and no accept()
        try:
            if data := conn.recv(4096):
                conn.sendall(data)
        except BlockingIOError:
            continue
        except OSError:
            pass


if __name__ == "__main__":
    main()
