"""An echo server that stops reading: it accepts every client, echoes its first chunk,
and never reads from it again.  The client's later bytes sit in the socket's buffers;
nothing is echoed, nothing is closed.

Usage: stops_reading.py PORT
"""

import socket
import sys


def main() -> None:
    server = socket.create_server(("127.0.0.1", int(sys.argv[1])), backlog=128)
    held = []  # kept open, never read again
    while True:
        conn, _ = server.accept()
        if data := conn.recv(4096):
            conn.sendall(data)
        held.append(conn)


if __name__ == "__main__":
    main()
