"""Listens on PORT and never accepts: every client waits in the backlog, unanswered.

Usage: never_accepts.py PORT
"""

import signal
import socket
import sys


def main() -> None:
    server = socket.create_server(("127.0.0.1", int(sys.argv[1])), backlog=128)
    print("listening", flush=True)
    signal.pause()  # until SIGTERM
    server.close()


if __name__ == "__main__":
    main()
