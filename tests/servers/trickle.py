"""A correct but slow echo server: one client at a time, one byte back every 10 ms.
Nothing is lost, and it never stops answering; it only needs more time than a clause
has.

Usage: trickle.py PORT
"""

import socket
import sys
import time


def main() -> None:
    server = socket.create_server(("127.0.0.1", int(sys.argv[1])), backlog=128)
    while True:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(4096):
                for i in range(len(data)):
                    conn.sendall(data[i:i + 1])
                    time.sleep(0.01)  # the slowness under test, not a synchronisation


if __name__ == "__main__":
    main()
