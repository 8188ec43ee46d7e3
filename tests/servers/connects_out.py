"""Listens on PORT and, for every client, tries to reach the outside world (TCP to
10.1.2.3:80 and 8.8.8.8:53, UDP to 8.8.8.8:53) and echoes what happened, one line each.

Usage: connects_out.py PORT
"""

import errno
import socket
import sys


def attempt(kind: int, address: tuple[str, int]) -> str:
    with socket.socket(socket.AF_INET, kind) as s:
        s.settimeout(5)
        try:
            if kind == socket.SOCK_STREAM:
                s.connect(address)
            else:
                s.sendto(b"x", address)
        except OSError as e:
            return errno.errorcode.get(e.errno or 0, str(e))
    return "reached"


def main() -> None:
    with socket.create_server(("127.0.0.1", int(sys.argv[1]))) as listener:
        while True:
            conn, _ = listener.accept()
            with conn:
                results = [attempt(socket.SOCK_STREAM, ("10.1.2.3", 80)),
                           attempt(socket.SOCK_STREAM, ("8.8.8.8", 53)),
                           attempt(socket.SOCK_DGRAM, ("8.8.8.8", 53))]
                conn.sendall(("\n".join(results) + "\n").encode())


if __name__ == "__main__":
    main()
