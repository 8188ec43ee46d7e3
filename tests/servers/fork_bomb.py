"""Listens on PORT, then forks without end: every child forks again, and a refused fork
is simply retried.  Only a process limit stops it.

Usage: fork_bomb.py PORT
"""

import os
import socket
import sys
import time


def main() -> None:
    with socket.create_server(("127.0.0.1", int(sys.argv[1]))):
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.001)  # the limit holds: try again, forever


if __name__ == "__main__":
    main()
